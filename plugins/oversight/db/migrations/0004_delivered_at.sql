-- When the city finished delivering (the .ok marker's time for a file drop, the
-- pull's time for HTTP), as opposed to when we picked it up (received_at).
-- Lateness against a city's deadline is judged on delivered_at.
alter table landing.deliveries add column delivered_at timestamptz;
update landing.deliveries set delivered_at = received_at where delivered_at is null;
alter table landing.deliveries alter column delivered_at set not null;
alter table landing.deliveries alter column delivered_at set default now();
