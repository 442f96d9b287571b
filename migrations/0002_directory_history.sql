-- Former context users, kept so that clients can still verify records signed while they were users
-- (for example version 1 of a room whose creator has left the context). The Bridge is trusted for the
-- directory, and this is part of it.
CREATE TABLE context_user_history (
  context_id  TEXT NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
  user_id     TEXT NOT NULL,
  public_key  TEXT NOT NULL,
  added_at    INTEGER NOT NULL,
  removed_at  INTEGER NOT NULL
);
CREATE INDEX context_user_history_by_user ON context_user_history(context_id, user_id);
