-- The office's daily quota of online bookings per client address: a salted
-- hash of the address (never the address), erased with the personal data.
ALTER TABLE bookings ADD COLUMN client_key BLOB;
CREATE INDEX bookings_client_quota ON bookings (office_id, client_key, created_at);
