// Every /api/v1 route table, in the order they appear in the OpenAPI document.
import type { Deps } from '../../deps.js';
import type { RouteSpec } from '../route.js';

export function apiRoutes(_deps: Deps): RouteSpec[] {
  return [];
}
