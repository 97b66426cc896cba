-- The language the citizen booked in: their mails are written in it.
ALTER TABLE bookings ADD COLUMN language TEXT NOT NULL DEFAULT 'de';
