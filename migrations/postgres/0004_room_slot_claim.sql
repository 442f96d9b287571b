-- A room slot claim in one round trip (docs/operations/limits.md, "Across Bridges"): the steps of
-- bridge/store/postgres-room-slots.ts `claim` as one function, so a join waits for one statement
-- instead of six. The advisory lock of the room is taken first and held to the end of the calling
-- statement's transaction; every statement after it takes a fresh snapshot (READ COMMITTED, a
-- VOLATILE function), so it sees every claim committed before the lock was granted.

CREATE FUNCTION room_slot_claim(
  p_room TEXT, p_connection TEXT, p_user TEXT, p_origin TEXT,
  p_max_users INTEGER, p_max_per_user INTEGER, p_stale_ms BIGINT, p_lock_space INTEGER
) RETURNS TEXT LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  now_ms BIGINT;
  own INTEGER;
  users INTEGER;
BEGIN
  PERFORM pg_advisory_xact_lock(p_lock_space, hashtext(p_room));
  now_ms := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
  DELETE FROM room_slots WHERE room_id = p_room AND seen_at < now_ms - p_stale_ms;
  IF EXISTS (SELECT 1 FROM room_slots WHERE room_id = p_room AND connection_id = p_connection) THEN
    RETURN 'ok';
  END IF;
  SELECT COUNT(*) INTO own FROM room_slots WHERE room_id = p_room AND user_id = p_user;
  IF own >= p_max_per_user THEN
    RETURN 'TOO_MANY_CONNECTIONS';
  END IF;
  SELECT COUNT(DISTINCT user_id) INTO users FROM room_slots WHERE room_id = p_room;
  IF own = 0 AND users >= p_max_users THEN
    RETURN 'ROOM_FULL';
  END IF;
  INSERT INTO room_slots (room_id, connection_id, user_id, origin, seen_at) VALUES (p_room, p_connection, p_user, p_origin, now_ms);
  RETURN 'ok';
END
$$;
