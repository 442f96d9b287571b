-- sealroom Bridge schema, version 1.
-- The Bridge stores the directory (solutions, contexts, users with public keys), operator API keys,
-- sessions, and rooms as signed records, sealed meta and wrapped keys. No plaintext room content.
-- Times are integer milliseconds since the Unix epoch.

CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  key_hash     TEXT NOT NULL UNIQUE,          -- hex SHA-256 of the key; the key itself is never stored
  ephemeral    INTEGER NOT NULL DEFAULT 0,    -- minted for an embedded Bridge's own client; removed on restart
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at   INTEGER
);

CREATE TABLE solutions (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE contexts (
  id          TEXT PRIMARY KEY,
  solution_id TEXT NOT NULL REFERENCES solutions(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);
CREATE INDEX contexts_by_solution ON contexts(solution_id, created_at);

-- Within a solution, a user id and a public key map one to one (enforced by the store), so a session,
-- which authenticates a public key, has one user id.
CREATE TABLE context_users (
  context_id  TEXT NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
  solution_id TEXT NOT NULL REFERENCES solutions(id) ON DELETE CASCADE,
  user_id     TEXT NOT NULL,
  public_key  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (context_id, user_id)
);
CREATE INDEX context_users_by_key ON context_users(solution_id, public_key);
CREATE INDEX context_users_by_user ON context_users(solution_id, user_id);

CREATE TABLE auth_nonces (
  nonce       TEXT PRIMARY KEY,              -- base64, single use
  solution_id TEXT NOT NULL,
  public_key  TEXT NOT NULL,
  expires_at  INTEGER NOT NULL
);
CREATE INDEX auth_nonces_by_expiry ON auth_nonces(expires_at);

CREATE TABLE sessions (
  token_hash  TEXT PRIMARY KEY,              -- hex SHA-256 of the bearer token
  solution_id TEXT NOT NULL REFERENCES solutions(id) ON DELETE CASCADE,
  public_key  TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);
CREATE INDEX sessions_by_user ON sessions(solution_id, public_key);

-- Current state of a room, denormalised from its head record for access checks and listing.
CREATE TABLE rooms (
  id               TEXT PRIMARY KEY,
  context_id       TEXT NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
  version          INTEGER NOT NULL,
  epoch            INTEGER NOT NULL,
  head_hash        BLOB NOT NULL,
  creator          TEXT NOT NULL,
  last_modifier    TEXT NOT NULL,
  policy           TEXT NOT NULL,            -- JSON of the head record's policy
  get_bits         INTEGER NOT NULL,         -- protocol/policy.ts ROLE_BITS, for SQL filtering
  list_bits        INTEGER NOT NULL,
  public_meta_json TEXT,                     -- publicMeta when it is a JSON object, for queryAsJson
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX rooms_by_created ON rooms(context_id, created_at, id);
CREATE INDEX rooms_by_updated ON rooms(context_id, updated_at, id);

CREATE TABLE room_members (
  room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
  user_id    TEXT NOT NULL,
  public_key TEXT NOT NULL,
  is_manager INTEGER NOT NULL,
  PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_by_user ON room_members(user_id, room_id);

-- The signed record chain. record is the exact signed JSON text.
CREATE TABLE room_versions (
  room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
  version    INTEGER NOT NULL,
  record     TEXT NOT NULL,
  signature  TEXT NOT NULL,
  hash       BLOB NOT NULL,
  author     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (room_id, version)
);

-- Wrapped epoch keys, one per (room, epoch, recipient), with the inclusion proof against the key-set
-- root signed in the version that added it.
CREATE TABLE room_keys (
  room_id      TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
  epoch        INTEGER NOT NULL,
  recipient_id TEXT NOT NULL,
  version      INTEGER NOT NULL,
  wrapped      BLOB NOT NULL,
  leaf_index   INTEGER NOT NULL,
  tree_size    INTEGER NOT NULL,
  proof        BLOB NOT NULL,               -- concatenated 32-byte hashes
  PRIMARY KEY (room_id, epoch, recipient_id)
);
CREATE INDEX room_keys_by_recipient ON room_keys(room_id, recipient_id, epoch);
