// Public surface of notify.
export { retryDelaySeconds, createWebhookNotifier, render, renderCheckpoint, type SignedCheckpoint, type WebhookConfig, type NotifierLog, type Notifier } from './deliver.js';
