// Every /api/v1 route table, in the order they appear in the OpenAPI document.
import type { Deps } from '../../deps.js';
import type { RouteSpec } from '../route.js';
import { receiptRoutes } from './receipts.js';

export function apiRoutes(deps: Deps): RouteSpec[] {
  return [
    ...receiptRoutes(deps),
  ];
}
