// Public surface of the access layer: the decisions (policy.ts) and the just-in-time request
// workflow that applies them (requests.ts).
export {
  authorizeAuditRead,
  authorizeLegalHold,
  authorizeLiveControl,
  authorizeWatch,
  checkAccessRequest,
  hasRole,
  isAutoApproved,
  mayApprove,
  mayRequestAccess,
  maySeeAllSessions,
  maySeeSession,
  mayUseTarget,
  requireFullScope,
  requireRecentLogin,
  usableTargets,
} from './policy.js';
export {
  createAccessRequests,
  type AccessNotification,
  type AccessRequestDetail,
  type AccessRequests,
  type AccessRequestScope,
  type AccessRequestsDeps,
  type AccessRequestView,
  type Notify,
} from './requests.js';
