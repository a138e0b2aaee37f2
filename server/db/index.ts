// Public surface of the database adapter.
export { afterCommit, openDatabase, tryInSavepoint, type Database, type Queryable } from './database.js';
export { checkSchema, migrate, pendingMigrations, readMigrations } from './migrate.js';
export { recordUserSeen, type UserRow } from './users.js';
export {
  startBrowserSession,
  touchBrowserSession,
  endBrowserSession,
  moveConsolesToLogin,
  touchLoginsOfConsoles,
  listCliSessions,
  revokeCliSession,
  type ActiveSessionRow,
  type CliSessionRow,
} from './browser-sessions.js';
export { savePendingLogin, takePendingLogin, countPendingLogins, type PendingLogin } from './oidc-logins.js';
export { saveSshLogin, getSshLogin, confirmSshLogin, takeSshLogins, type SshLoginRow, type TakenSshLogin } from './ssh-logins.js';
export { countWaitingCliLogins, saveCliLogin, getCliLogin, confirmCliLogin, takeCliLogin, type CliLoginRow, type PolledCliLogin } from './cli-logins.js';
export {
  lockAuditHead,
  databaseClock,
  insertChainedAuditEvent,
  readAuditEvents,
  firstEventAfter,
  restoreAfter,
  listRestores,
  recordingExpiry,
  listAuditEvents,
  listAuditTrail,
  type AuditEventRow,
  type AuditTrailRow,
} from './audit-events.js';
export {
  insertConsoleSession,
  markConsoleStarted,
  linkConsoleGrant,
  endConsoleSession,
  endOrphanedSession,
  markConsoleReleased,
  listConsoleSessions,
  getConsoleSession,
  createRecording,
  appendRecordingChunk,
  sealRecording,
  lockUnsealedRecording,
  readRecordingChunks,
  readStoredChunks,
  type StoredChunk,
  getRecording,
  type RecordingRow,
  type ConsoleSessionRow,
  type SessionFilter,
} from './recordings.js';
export { claimQueuedWords, storeIndexedWords, skipQueuedWords, wordsQueued, type QueuedWords, listRecordingCommands, searchRecordings, type CommandRow, type SearchHit } from './recording-words.js';
export {
  insertAccessRequest,
  lockAccessRequest,
  recordDecision,
  countValidApprovals,
  grantAccess,
  transitionAccessRequest,
  useGrant,
  returnGrantUse,
  expireGrants,
  deadGrants,
  moveConsolesToGrant,
  pendingExtension,
  listAccessRequests,
  getAccessRequest,
  listAccessDecisions,
  usersInGroups,
  grantSessions,
  equalGrantInForce,
  holdsGrantFor,
  type AccessRequestRow,
  type AccessRequestListRow,
  type AccessDecisionRow,
  type RequestStatus,
} from './access-requests.js';
export {
  enqueueNotification,
  claimDueNotifications,
  markNotificationDelivered,
  markNotificationFailed,
  type NotificationRow,
} from './notifications.js';
export {
  readAuditHead,
  insertCheckpoint,
  nextCheckpointNumber,
  latestCheckpoint,
  listCheckpoints,
  recordingCheckpoint,
  checkpointCovering,
  listCheckpointsAfter,
  tryTimerCheckpointLock,
  claimRecordingsToCheckpoint,
  markRecordingCheckpointed,
  type CheckpointRow,
} from './checkpoints.js';
export {
  listChunkSpans,
  readChunkRange,
  insertKeyframe,
  markKeyframesDone,
  claimKeyframeBuild,
  listKeyframes,
  getKeyframe,
  recordingsWithoutKeyframes,
  type ChunkSpan,
  type KeyframeRow,
} from './keyframes.js';
export { registerBroker, heartbeatBroker, markBrokerStopped, claimLostBrokers, deadBrokers, lockOrphanedSession } from './brokers.js';
export {
  CONTROL_CHANNEL,
  listLiveSessions,
  getLiveSession,
  requestTermination,
  startWatching,
  stopWatching,
  tailRecording,
  recentChunks,
  countLiveConsolesLocked,
  ownLiveSessions,
  countLiveConsolesByNode,
  type OwnLiveRow,
  type LiveSessionRow,
} from './live-control.js';
export { listen } from './listen.js';
export { deploymentIdentity, rotateDeployment } from './deployment.js';
export {
  expireOneRecording,
  placeLegalHold,
  releaseLegalHold,
  getLegalHold,
  pruneShortLived,
  type RetentionPolicy,
  type ExpiringRecording,
  type LegalHoldRow,
  type Pruned,
} from './retention.js';
export {
  recordingObjectKey,
  listObjectChunks,
  claimRecordingToStore,
  markRecordingStored,
  expiredObjects,
  markObjectDeleted,
  type ObjectChunk,
  type RecordingToStore,
} from './recording-objects.js';
export { rememberSshKey, findSshKeyLogin, listSshKeyLogins, revokeSshKeyLogin, type SshKeyLoginRow } from './ssh-key-logins.js';
export { setReattachKeyHash, consoleCarrier, requestHandover, answerRequest, clearRequest, offerConsole, claimOffer, markPaused, pausedOffers, letGo, handoverOf, carried, unclaim, withdrawOffers, carriedElsewhere, otherLiveBrokers, type Handover, type OfferedConsole } from './handover.js';
