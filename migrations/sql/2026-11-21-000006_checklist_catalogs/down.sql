DROP TABLE checklist_items;
DROP TABLE checklist_catalogs;
