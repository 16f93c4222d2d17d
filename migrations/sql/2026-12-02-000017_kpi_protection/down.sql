DROP TABLE kpi_noise_key;
