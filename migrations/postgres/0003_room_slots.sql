-- Room slots shared by every Bridge on this database (docs/operations/limits.md, "Across Bridges"):
-- one row per connection joined to a room on any Bridge, so `maxParticipantsPerRoom` and
-- `maxConnectionsPerUserInRoom` hold across Bridges. A join claims its row under an advisory lock of
-- the room (one claim per room at a time, on every Bridge); a leave deletes it. Each Bridge refreshes
-- its rows' seen_at every few seconds; rows not refreshed (a Bridge that died) go stale and are pruned.

CREATE TABLE room_slots (
  room_id       TEXT COLLATE "C" NOT NULL,
  connection_id TEXT COLLATE "C" NOT NULL,
  user_id       TEXT COLLATE "C" NOT NULL,
  origin        TEXT COLLATE "C" NOT NULL,
  seen_at       BIGINT NOT NULL,
  PRIMARY KEY (room_id, connection_id)
);
CREATE INDEX room_slots_by_origin ON room_slots(origin);
