-- Recovery codes (SHA-256 hashes, 32 bytes each, concatenated) and the time before which a
-- user's sessions are void (nanoseconds; the minimum int64 for none).
ALTER TABLE users ADD COLUMN recovery_codes BLOB;
ALTER TABLE users ADD COLUMN sessions_after INTEGER NOT NULL DEFAULT -9223372036854775808;
