-- The sealed export record of each indicator and sighting version (package export/record): a
-- cold export reads these small rows instead of whole objects. workspace names the key that
-- sealed the record.
CREATE TABLE export_records (
	seq       INTEGER PRIMARY KEY REFERENCES objects (seq) ON DELETE CASCADE,
	workspace TEXT NOT NULL,
	record    BLOB NOT NULL
);

-- Versions with a seq up to upto may lack their record (stored before this table, restored,
-- or stored without one); the hub fills them in and sets upto to 0.
CREATE TABLE export_backfill (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	upto INTEGER NOT NULL
);
INSERT INTO export_backfill (id, upto)
	SELECT 1, COALESCE(MAX(seq), 0) FROM objects WHERE type IN ('indicator', 'sighting');
