DROP INDEX organisations_name;
