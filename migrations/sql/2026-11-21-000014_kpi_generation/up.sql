-- A number that grows whenever anything a KPI report reads may have changed: the facts and sums,
-- and the registry and designations that decide who sees which hospital. The API keeps answers
-- to KPI queries until it moves. Bumped per statement, inside the changing transaction, so a
-- reader never sees the new number before the data it stands for.
CREATE TABLE kpi_generation (
  only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  generation bigint NOT NULL
);
INSERT INTO kpi_generation VALUES (true, 1);
GRANT SELECT ON kpi_generation TO renkei_app;

CREATE FUNCTION kpi_generation_bump() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  UPDATE kpi_generation SET generation = generation + 1;
  RETURN NULL;
END $$;

CREATE TRIGGER kpi_facts_generation AFTER INSERT OR UPDATE OR DELETE ON kpi_facts
  FOR EACH STATEMENT EXECUTE FUNCTION kpi_generation_bump();
CREATE TRIGGER kpi_cells_generation AFTER INSERT OR UPDATE OR DELETE ON kpi_cells
  FOR EACH STATEMENT EXECUTE FUNCTION kpi_generation_bump();
CREATE TRIGGER kpi_open_targets_generation AFTER INSERT OR UPDATE OR DELETE ON kpi_open_targets
  FOR EACH STATEMENT EXECUTE FUNCTION kpi_generation_bump();
CREATE TRIGGER organisations_kpi_generation AFTER INSERT OR UPDATE OR DELETE ON organisations
  FOR EACH STATEMENT EXECUTE FUNCTION kpi_generation_bump();
CREATE TRIGGER critical_designations_kpi_generation AFTER INSERT OR UPDATE OR DELETE ON critical_designations
  FOR EACH STATEMENT EXECUTE FUNCTION kpi_generation_bump();
