-- The organisations list is ordered by (name, id) and paged by a cursor on them; without an
-- index in that order every page sorted all the organisations the caller may see (108,000
-- nationally, ~13 ms of PostgreSQL per page).
CREATE INDEX organisations_name ON organisations (name, id);
