-- Schemas of the warehouse and the least-privilege roles that use them.
--
--   landing      manifest of every delivery and stored payload (loader writes)
--   audit        per-delivery load and validation audit, alert deliveries (loader writes)
--   raw          conformant rows as delivered, typed loosely (loader writes)
--   quarantine   rejected rows, verbatim, with reasons (loader writes)
--   restricted   staging that still holds clear personal data (transformer only)
--   staging      typed, renamed, pseudonymised (transformer writes)
--   intermediate business logic (transformer writes)
--   reference    seeds: cities, rule parameters, calendars, guided prices
--   snapshots    institution history (SCD2)
--   marts        what analysts, reports and alerts read (analyst reads)
--
-- Roles are NOLOGIN groups: services connect with their own login and
-- SET ROLE; a deployment grants the groups to its login users.

do $$
declare r text;
begin
    foreach r in array array['oversight_loader', 'oversight_transformer', 'oversight_analyst'] loop
        if not exists (select from pg_roles where rolname = r) then
            execute format('create role %I nologin', r);
        end if;
        -- the migrating user may act as each role (a superuser can anyway)
        execute format('grant %I to current_user', r);
    end loop;
end
$$;

create schema if not exists landing;
create schema if not exists audit;
create schema if not exists raw;
create schema if not exists quarantine;
create schema if not exists restricted;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists reference;
create schema if not exists snapshots;
create schema if not exists marts;

revoke all on schema public from public;
revoke create on schema public from public;

-- loader: writes what cities delivered, reads nothing derived
grant usage on schema landing, audit, raw, quarantine to oversight_loader;
alter default privileges in schema landing, audit, raw, quarantine
    grant select, insert, update, delete on tables to oversight_loader;
alter default privileges in schema landing, audit, raw, quarantine
    grant usage, select on sequences to oversight_loader;

-- transformer (dbt): reads raw and the delivery manifest, owns the derived schemas
grant usage on schema raw, landing, audit to oversight_transformer;
alter default privileges in schema raw, landing, audit
    grant select on tables to oversight_transformer;
grant usage, create on schema restricted, staging, intermediate, reference, snapshots, marts
    to oversight_transformer;

-- analyst: reads the marts and nothing else (no clear personal data lives there)
grant usage on schema marts to oversight_analyst;
alter default privileges for role oversight_transformer in schema marts
    grant select on tables to oversight_analyst;
