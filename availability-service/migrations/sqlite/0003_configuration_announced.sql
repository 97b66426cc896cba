-- When a change was told to the booking service (for the office's webhooks,
-- event `configuration.changed`); NULL until then. Changes are announced at
-- least once: the booking service queues each once per subscription.
ALTER TABLE office_configuration_changes ADD COLUMN announced_at INTEGER;
CREATE INDEX office_configuration_changes_unannounced ON office_configuration_changes (changed_at)
    WHERE announced_at IS NULL;
