DROP TRIGGER critical_designations_kpi_generation ON critical_designations;
DROP TRIGGER organisations_kpi_generation ON organisations;
DROP TRIGGER kpi_open_targets_generation ON kpi_open_targets;
DROP TRIGGER kpi_cells_generation ON kpi_cells;
DROP TRIGGER kpi_facts_generation ON kpi_facts;
DROP FUNCTION kpi_generation_bump();
DROP TABLE kpi_generation;
