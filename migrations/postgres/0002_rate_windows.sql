-- Rate limits shared by every Bridge on this database (docs/operations/limits.md, "Across Bridges"):
-- one fixed-window counter per key (a hash of what is limited: a user's room writes, failed logins of
-- a key from an address, of an address). A hit is one upsert; the row lock it takes makes concurrent
-- hits from several Bridges count exactly. window_start is in the database's clock (ms since the Unix
-- epoch), so Bridges with skewed clocks share the same windows. Rows of windows long past are swept.

CREATE TABLE rate_windows (
  key          TEXT COLLATE "C" PRIMARY KEY,
  window_start BIGINT NOT NULL,
  count        INTEGER NOT NULL
);
CREATE INDEX rate_windows_by_start ON rate_windows(window_start);
