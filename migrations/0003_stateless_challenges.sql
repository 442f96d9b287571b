-- Login challenges are stateless (docs/security/login.md): a nonce carries its own expiry and a MAC
-- under a Bridge secret, so issuing one stores nothing and a flood of challenges costs no storage.
-- auth_nonces now holds only nonces that were used in a successful login, until they expire, which is
-- what makes each nonce single use. Rows from before this migration were outstanding challenges.
DELETE FROM auth_nonces;

-- Secrets the Bridge keeps for itself (the challenge MAC key). Kept in the database, not in a file, so
-- that every Bridge on one database shares them.
CREATE TABLE bridge_secrets (
  name        TEXT PRIMARY KEY,
  secret      BLOB NOT NULL,
  created_at  INTEGER NOT NULL
);
