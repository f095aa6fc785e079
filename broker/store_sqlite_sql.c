/* store_sqlite_sql: schema and statements of the SQLite engine (see
 * store_sqlite_sql.h). */
#include "store_sqlite_sql.h"

#include <stddef.h>

const char store_sqlite_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS messages("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " message_id BLOB NOT NULL UNIQUE,"
    " sender TEXT NOT NULL, recipient TEXT NOT NULL, type INTEGER NOT NULL,"
    " purpose TEXT NOT NULL, consent_id TEXT NOT NULL, subject BLOB,"
    " envelope_sha256 BLOB NOT NULL, envelope BLOB, receipt BLOB NOT NULL,"
    " created_at INTEGER NOT NULL, accepted_at INTEGER NOT NULL, audit_index INTEGER NOT NULL,"
    " state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " next_at INTEGER NOT NULL DEFAULT 0, delivered_at INTEGER NOT NULL DEFAULT 0,"
    " acked_at INTEGER NOT NULL DEFAULT 0, ended_at INTEGER NOT NULL DEFAULT 0,"
    " code INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',"
    " linked_id BLOB, transfer_decision INTEGER NOT NULL DEFAULT 0,"
    " receiving_unit TEXT NOT NULL DEFAULT '', transfer_ack_id BLOB);"
    /* Only pending messages are in this index, so finding what is due
     * costs the same however long the history grows. */
    "CREATE INDEX IF NOT EXISTS messages_pending ON messages(recipient, seq)"
    " WHERE state IN (1, 2);"
    "CREATE INDEX IF NOT EXISTS messages_consent ON messages(consent_id, state);"
    "CREATE TABLE IF NOT EXISTS consents("
    " consent_id TEXT PRIMARY KEY, subject BLOB NOT NULL, granted_by TEXT NOT NULL,"
    " grant_pb BLOB NOT NULL, granted_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL DEFAULT 0,"
    " valid_until INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS consents_subject ON consents(subject);"
    "CREATE TABLE IF NOT EXISTS audit("
    " idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, subject BLOB, message_id BLOB);"
    "CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject);"
    /* Entries are found by message id only for refusals: an accepted
     * message's row names its entry (messages.audit_index). Indexing only
     * those keeps random message ids from dirtying index pages on every
     * delivery and acknowledgement (bench/README.md, profile). */
    "DROP INDEX IF EXISTS audit_message;"
    "CREATE INDEX IF NOT EXISTS audit_refused ON audit(message_id)"
    " WHERE message_id IS NOT NULL;"
    /* Keyed by the node's position in creation (post) order, so every new
     * node lands at the end of one B-tree instead of at one place per
     * level (s_node_pos); level and idx are kept for people and tools. */
    "CREATE TABLE IF NOT EXISTS audit_nodes("
    " pos INTEGER PRIMARY KEY, level INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " hash BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tree_heads(tree_size INTEGER PRIMARY KEY, sth BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS admin_queue(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " action TEXT NOT NULL, message_id BLOB NOT NULL, actor TEXT NOT NULL,"
    " requested_at INTEGER NOT NULL, done_at INTEGER NOT NULL DEFAULT 0,"
    " result TEXT NOT NULL DEFAULT '');"
    /* Partial indexes over the few rows a periodic task looks for, so that
     * the dead-letter list and the admin queue cost the same however long
     * the history grows (tests/test_query_plans.c). Retention (Q_PURGE)
     * still reads the table: an index over purgeable bodies cost 15 us of
     * broker CPU per message (bench/README.md). */
    "CREATE INDEX IF NOT EXISTS messages_dead ON messages(seq) WHERE state IN (4, 5);"
    "CREATE INDEX IF NOT EXISTS admin_pending ON admin_queue(id) WHERE done_at = 0;"
    /* Consent ids are scoped by the registering party (issue 14): the key
     * is PARTY/ID. Rows of older stores get their party prefixed, and the
     * pending messages resting on them follow. Both are no-ops after. */
    "UPDATE messages SET consent_id = (SELECT c.granted_by || '/' || c.consent_id"
    " FROM consents c WHERE c.consent_id = messages.consent_id) WHERE state IN (1, 2)"
    " AND consent_id <> '' AND instr(consent_id, '/') = 0 AND EXISTS (SELECT 1 FROM"
    " consents c WHERE c.consent_id = messages.consent_id);"
    "UPDATE consents SET consent_id = granted_by || '/' || consent_id"
    " WHERE instr(consent_id, '/') = 0;";

#define S_MSG_COLS                                                                                 \
    "seq, message_id, sender, recipient, type, purpose, consent_id, subject, envelope_sha256,"     \
    " envelope, receipt, created_at, accepted_at, audit_index, state, attempts, delivered_at,"     \
    " acked_at, code, reason, linked_id, transfer_decision, receiving_unit, transfer_ack_id"

const char *const store_sqlite_sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_BEGIN_READ] = "BEGIN DEFERRED",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT msg",
    [Q_RELEASE] = "RELEASE msg",
    [Q_ROLLBACK_TO] = "ROLLBACK TO msg",
    [Q_FIND] = "SELECT " S_MSG_COLS " FROM messages WHERE message_id = ?1",
    [Q_INSERT] = "INSERT INTO messages(message_id, sender, recipient, type, purpose, consent_id,"
                 " subject, envelope_sha256, envelope, receipt, created_at, accepted_at,"
                 " audit_index, state, linked_id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
                 "?13,1,?14)",
    [Q_DUE] = "SELECT " S_MSG_COLS " FROM messages WHERE recipient = ?1 AND state IN (1, 2)"
              " AND (state = 1 OR next_at <= ?2) ORDER BY seq LIMIT ?3",
    [Q_MARK_SENT] = "UPDATE messages SET state = 2, attempts = attempts + 1, next_at = ?3,"
                    " delivered_at = CASE WHEN delivered_at = 0 THEN ?2 ELSE delivered_at END"
                    " WHERE seq = ?1 AND state IN (1, 2)",
    [Q_RESEND_NOW] = "UPDATE messages SET next_at = 0 WHERE recipient = ?1 AND state IN (1, 2)"
                     " AND state = 2",
    [Q_FINISH] = "UPDATE messages SET state = ?2, code = ?3, reason = ?4, ended_at = ?5,"
                 " acked_at = CASE WHEN ?2 = 3 THEN ?5 ELSE acked_at END"
                 " WHERE message_id = ?1 AND recipient = ?6 AND state IN (1, 2)",
    [Q_FINISH_ANY] = "UPDATE messages SET state = ?2, code = ?3, reason = ?4, ended_at = ?5,"
                     " acked_at = CASE WHEN ?2 = 3 THEN ?5 ELSE acked_at END"
                     " WHERE message_id = ?1 AND state IN (1, 2)",
    [Q_REQUEUE] = "UPDATE messages SET state = 1, code = 0, reason = '', attempts = 0,"
                  " ended_at = 0, next_at = 0 WHERE message_id = ?1 AND state IN (4, 5)"
                  " AND envelope IS NOT NULL",
    [Q_LINK] = "UPDATE messages SET transfer_decision = ?3, receiving_unit = ?4,"
               " transfer_ack_id = ?5 WHERE message_id = ?1 AND sender = ?2 AND recipient = ?6",
    [Q_DEAD] = "SELECT " S_MSG_COLS " FROM messages WHERE state IN (4, 5) ORDER BY seq DESC"
               " LIMIT ?1",
    [Q_BY_CONSENT] = "SELECT " S_MSG_COLS " FROM messages WHERE consent_id = ?1 AND"
                     " state IN (1, 2) ORDER BY seq LIMIT ?2",
    /* The refusal's sentence goes with the body: a recipient's free text. */
    [Q_PURGE] = "UPDATE messages SET envelope = NULL, reason = '' WHERE envelope IS NOT NULL AND"
                " state IN (3, 4, 5) AND ended_at > 0 AND ended_at < ?1",
    [Q_DEPTH] = "SELECT count(*) FROM messages WHERE recipient = ?1 AND state IN (1, 2)",
    [Q_OLDEST] = "SELECT coalesce(min(accepted_at), 0) FROM messages"
                 " WHERE recipient = ?1 AND state IN (1, 2)",
    /* INDEXED BY: the planner would rather scan messages_consent whole. */
    [Q_QUEUES] = "SELECT recipient, count(*), coalesce(min(accepted_at), 0) FROM messages"
                 " WHERE state IN (1, 2) GROUP BY recipient LIMIT ?1",
    [Q_DEAD_COUNT] = "SELECT count(*) FROM messages INDEXED BY messages_dead"
                     " WHERE state IN (4, 5) AND state = 4",
    [Q_C_PUT] = "INSERT OR IGNORE INTO consents(consent_id, subject, granted_by, grant_pb,"
                " granted_at, valid_until) VALUES(?1,?2,?3,?4,?5,?6)",
    [Q_C_GET] = "SELECT consent_id, subject, granted_by, grant_pb, granted_at, revoked_at"
                " FROM consents WHERE consent_id = ?1",
    [Q_C_REVOKE] = "UPDATE consents SET revoked_at = ?2 WHERE consent_id = ?1 AND revoked_at = 0",
    [Q_C_FOR] = "SELECT consent_id, subject, granted_by, grant_pb, granted_at, revoked_at"
                " FROM consents WHERE subject = ?1 ORDER BY granted_at LIMIT ?2",
    [Q_A_SIZE] = "SELECT coalesce(max(idx) + 1, 0) FROM audit",
    [Q_A_PUT] = "INSERT INTO audit(idx, entry, subject, message_id) VALUES(?1,?2,?3,?4)",
    [Q_A_GET] = "SELECT entry FROM audit WHERE idx = ?1",
    [Q_A_EACH] = "SELECT idx, entry FROM audit WHERE idx >= ?1 ORDER BY idx",
    [Q_N_PUT] = "INSERT OR REPLACE INTO audit_nodes(pos, level, idx, hash) VALUES(?1,?2,?3,?4)",
    [Q_N_GET] = "SELECT hash FROM audit_nodes WHERE pos = ?1",
    [Q_A_BY_SUBJECT] = "SELECT idx FROM audit WHERE subject = ?1 ORDER BY idx LIMIT ?2",
    [Q_A_BY_MESSAGE] = "SELECT idx FROM audit WHERE message_id = ?1 ORDER BY idx LIMIT ?2",
    [Q_STH_PUT] = "INSERT OR REPLACE INTO tree_heads(tree_size, sth) VALUES(?1,?2)",
    [Q_STH_LATEST] = "SELECT sth FROM tree_heads"
                     " WHERE tree_size = (SELECT max(tree_size) FROM tree_heads)",
    [Q_STH_EACH] = "SELECT tree_size, sth FROM tree_heads ORDER BY tree_size",
    [Q_ADM_PUT] = "INSERT INTO admin_queue(action, message_id, actor, requested_at)"
                  " VALUES(?1,?2,?3,?4)",
    [Q_ADM_PENDING] = "SELECT id, action, message_id, actor, result, done_at FROM admin_queue"
                      " WHERE done_at = 0 ORDER BY id LIMIT ?1",
    [Q_ADM_DONE] = "UPDATE admin_queue SET done_at = ?2, result = ?3 WHERE id = ?1",
    [Q_ADM_GET] = "SELECT id, action, message_id, actor, result, done_at FROM admin_queue"
                  " WHERE id = ?1",
    /* Crypto-shredding of consents: past validity (or withdrawn) and
     * retention, the sealed grant and its data key go. */
    [Q_C_SHRED] = "UPDATE consents SET grant_pb = X'' WHERE length(grant_pb) > 0 AND"
                  " ((valid_until > 0 AND valid_until < ?1) OR"
                  " (revoked_at > 0 AND revoked_at < ?1))",
    /* Key rotation: bodies whose data key is wrapped under another KEK. */
    [Q_KEYS_MSG] = "SELECT seq, message_id, envelope FROM messages WHERE envelope IS NOT NULL"
                   " AND substr(envelope, 1, 4) = X'52414531' AND substr(envelope, 5, 4) <> ?1"
                   " LIMIT 256",
    [Q_KEYS_MSG_PUT] = "UPDATE messages SET envelope = ?2 WHERE seq = ?1",
    [Q_KEYS_CON] =
        "SELECT rowid, consent_id, grant_pb FROM consents WHERE"
        " substr(grant_pb, 1, 4) = X'52414531' AND substr(grant_pb, 5, 4) <> ?1 LIMIT 256",
    [Q_KEYS_CON_PUT] = "UPDATE consents SET grant_pb = ?2 WHERE rowid = ?1",
    [Q_C_COUNT] = "SELECT count(*) FROM consents WHERE subject = ?1 AND"
                  " (?2 IS NULL OR (granted_by = ?2 AND revoked_at = 0))",
};
