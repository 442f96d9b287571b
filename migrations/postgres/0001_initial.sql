-- sealroom Bridge schema on PostgreSQL, version 1: the tables of the SQLite migrations 0001 to 0003
-- (migrations/*.sql, where each is explained) in PostgreSQL's types. Times are milliseconds since the
-- Unix epoch (BIGINT), binary values BYTEA, flags BOOLEAN; text compares byte by byte (COLLATE "C"), as
-- in SQLite, so listings sort the same on both stores. The store's locking is in
-- bridge/store/postgres.ts and docs/operations/postgres.md.

CREATE TABLE api_keys (
  id           TEXT COLLATE "C" PRIMARY KEY,
  name         TEXT COLLATE "C" NOT NULL,
  key_hash     TEXT COLLATE "C" NOT NULL UNIQUE,
  ephemeral    BOOLEAN NOT NULL DEFAULT FALSE,
  created_at   BIGINT NOT NULL,
  last_used_at BIGINT,
  revoked_at   BIGINT
);

CREATE TABLE solutions (
  id         TEXT COLLATE "C" PRIMARY KEY,
  name       TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE contexts (
  id          TEXT COLLATE "C" PRIMARY KEY,
  solution_id TEXT COLLATE "C" NOT NULL REFERENCES solutions(id) ON DELETE CASCADE,
  name        TEXT COLLATE "C" NOT NULL,
  created_at  BIGINT NOT NULL
);
CREATE INDEX contexts_by_solution ON contexts(solution_id, created_at);

CREATE TABLE context_users (
  context_id  TEXT COLLATE "C" NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
  solution_id TEXT COLLATE "C" NOT NULL REFERENCES solutions(id) ON DELETE CASCADE,
  user_id     TEXT COLLATE "C" NOT NULL,
  public_key  TEXT COLLATE "C" NOT NULL,
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (context_id, user_id)
);
CREATE INDEX context_users_by_key ON context_users(solution_id, public_key);
CREATE INDEX context_users_by_user ON context_users(solution_id, user_id);

CREATE TABLE context_user_history (
  context_id  TEXT COLLATE "C" NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
  user_id     TEXT COLLATE "C" NOT NULL,
  public_key  TEXT COLLATE "C" NOT NULL,
  added_at    BIGINT NOT NULL,
  removed_at  BIGINT NOT NULL
);
CREATE INDEX context_user_history_by_user ON context_user_history(context_id, user_id);

-- Nonces used by a successful login, until they expire: the primary key makes each single use.
CREATE TABLE auth_nonces (
  nonce       TEXT COLLATE "C" PRIMARY KEY,
  solution_id TEXT COLLATE "C" NOT NULL,
  public_key  TEXT COLLATE "C" NOT NULL,
  expires_at  BIGINT NOT NULL
);
CREATE INDEX auth_nonces_by_expiry ON auth_nonces(expires_at);

CREATE TABLE bridge_secrets (
  name        TEXT COLLATE "C" PRIMARY KEY,
  secret      BYTEA NOT NULL,
  created_at  BIGINT NOT NULL
);

CREATE TABLE sessions (
  token_hash  TEXT COLLATE "C" PRIMARY KEY,
  solution_id TEXT COLLATE "C" NOT NULL REFERENCES solutions(id) ON DELETE CASCADE,
  public_key  TEXT COLLATE "C" NOT NULL,
  user_id     TEXT COLLATE "C" NOT NULL,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);
CREATE INDEX sessions_by_user ON sessions(solution_id, public_key);

CREATE TABLE rooms (
  id               TEXT COLLATE "C" PRIMARY KEY,
  context_id       TEXT COLLATE "C" NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
  version          INTEGER NOT NULL,
  epoch            INTEGER NOT NULL,
  head_hash        BYTEA NOT NULL,
  creator          TEXT COLLATE "C" NOT NULL,
  last_modifier    TEXT COLLATE "C" NOT NULL,
  policy           TEXT COLLATE "C" NOT NULL,
  get_bits         INTEGER NOT NULL,
  list_bits        INTEGER NOT NULL,
  public_meta_json TEXT COLLATE "C",
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL
);
CREATE INDEX rooms_by_created ON rooms(context_id, created_at, id);
CREATE INDEX rooms_by_updated ON rooms(context_id, updated_at, id);

CREATE TABLE room_members (
  room_id    TEXT COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
  user_id    TEXT COLLATE "C" NOT NULL,
  public_key TEXT COLLATE "C" NOT NULL,
  is_manager BOOLEAN NOT NULL,
  PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_by_user ON room_members(user_id, room_id);

CREATE TABLE room_versions (
  room_id    TEXT COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
  version    INTEGER NOT NULL,
  record     TEXT COLLATE "C" NOT NULL,
  signature  TEXT COLLATE "C" NOT NULL,
  hash       BYTEA NOT NULL,
  author     TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (room_id, version)
);

CREATE TABLE room_keys (
  room_id      TEXT COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
  epoch        INTEGER NOT NULL,
  recipient_id TEXT COLLATE "C" NOT NULL,
  version      INTEGER NOT NULL,
  wrapped      BYTEA NOT NULL,
  leaf_index   INTEGER NOT NULL,
  tree_size    INTEGER NOT NULL,
  proof        BYTEA NOT NULL,
  PRIMARY KEY (room_id, epoch, recipient_id)
);
CREATE INDEX room_keys_by_recipient ON room_keys(room_id, recipient_id, epoch);
