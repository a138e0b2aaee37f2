// Public surface of notify.
export { retryDelaySeconds, createWebhookNotifier, render, type WebhookConfig, type NotifierLog, type Notifier } from './deliver.js';
