// Every /api/v1 route table, in the order they appear in the OpenAPI document.
import type { Deps } from '../../deps.js';
import type { RouteSpec } from '../route.js';
import { attachmentRoutes } from './attachments.js';
import { authRoutes } from './auth.js';
import { chatRoutes } from './chats.js';
import { conversationRoutes } from './conversations.js';
import { invitationRoutes } from './invitations.js';
import { workspaceRoutes } from './workspaces.js';
import { messageRoutes } from './messages.js';
import { receiptRoutes } from './receipts.js';
import { notificationRoutes } from './notifications.js';
import { searchRoutes } from './search.js';
import { notificationTargetRoutes } from './notification-targets.js';

export function apiRoutes(deps: Deps): RouteSpec[] {
  return [
    ...authRoutes(deps),
    ...workspaceRoutes(deps),
    ...invitationRoutes(deps),
    ...chatRoutes(deps),
    ...messageRoutes(deps),
    ...conversationRoutes(deps),
    ...attachmentRoutes(deps),
    ...receiptRoutes(deps),
    ...searchRoutes(deps),
    ...notificationTargetRoutes(deps),
    ...notificationRoutes(deps),
  ];
}
