-- Each service owns its database: bookings in "amtstermin" (created by the
-- image from POSTGRES_DB), counter absences in "amtstermin_availability".
CREATE DATABASE amtstermin_availability OWNER amtstermin;
