-- Recovery codes (SHA-256 hashes, 32 bytes each, concatenated) and the time before which a
-- user's sessions are void (NULL for none).
ALTER TABLE users ADD COLUMN recovery_codes bytea;
ALTER TABLE users ADD COLUMN sessions_after timestamptz;
