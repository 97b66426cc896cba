-- How a booking was made: online by the citizen, or by staff at the foyer
-- desk or on the phone.
ALTER TABLE bookings ADD COLUMN channel TEXT NOT NULL DEFAULT 'online'
    CHECK (channel IN ('online', 'foyer', 'phone'));
