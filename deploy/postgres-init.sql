-- First start of the compose PostgreSQL: one server, two databases.
-- Airflow's metadata in "airflow", the warehouse in "oversight"; the
-- warehouse's schemas and roles come from `oversight db migrate`.
create database airflow;
create database oversight;
