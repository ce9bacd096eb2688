// Invitations: a high-entropy token (32 random bytes) that is shown once and stored only as its
// SHA-256 hash. Single use unless `max_uses` says otherwise (`max_uses: null` = single use).
// Only owners may create `admin` invitations, matching "only an owner may grant admin".
import type { Deps } from '../deps.js';
import { accessWorkspace, invalidateWorkspaceMember, type Role } from './access.js';
import { randomToken, sha256 } from './auth.js';
import { ForbiddenError, NotFoundError } from '../errors.js';
import { publishOutbox, type OutboxDeps } from './outbox.js';
import { iso } from './users.js';
import { recordMemberEvent } from './workspaces.js';

export type InvitationRole = 'admin' | 'member' | 'guest';

export const DEFAULT_INVITATION_SECONDS = 7 * 86400;
export const MAX_INVITATION_SECONDS = 30 * 86400;

export interface Invitation {
  id: string;
  role: InvitationRole;
  email: string | null;
  expires_at: string;
  max_uses: number | null;
  uses: number;
  revoked_at: string | null;
  created_by: string;
  created_at: string;
}

type AccessDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config'>;

const COLUMNS = ['id', 'role', 'email', 'expires_at', 'max_uses', 'uses', 'revoked_at', 'created_by', 'created_at'];

const toInvitation = (row: Record<string, any>): Invitation => ({
  id: String(row.id),
  role: row.role,
  email: row.email ?? null,
  expires_at: iso(row.expires_at)!,
  max_uses: row.max_uses ?? null,
  uses: row.uses,
  revoked_at: iso(row.revoked_at),
  created_by: String(row.created_by),
  created_at: iso(row.created_at)!,
});

export interface InvitationInput {
  role: InvitationRole;
  /** Trimmed and lower-cased by the route schema. */
  email?: string;
  expires_in_seconds?: number;
  max_uses?: number | null;
}

export async function createInvitation(deps: AccessDeps, userId: string, workspaceId: string, input: InvitationInput): Promise<Invitation & { token: string }> {
  const access = await accessWorkspace(deps, userId, workspaceId, 'admin');
  if (input.role === 'admin' && access.role !== 'owner') throw new ForbiddenError('Only an owner may invite admins.');
  const token = randomToken();
  const [row] = await deps
    .db('invitations')
    .insert({
      workspace_id: workspaceId,
      token_hash: sha256(token),
      role: input.role,
      email: input.email ?? null,
      created_by: userId,
      expires_at: new Date(Date.now() + (input.expires_in_seconds ?? DEFAULT_INVITATION_SECONDS) * 1000),
      max_uses: input.max_uses ?? null,
    })
    .returning(COLUMNS);
  return { ...toInvitation(row), token };
}

/** Every invitation of the workspace, newest first; tokens cannot be shown (only hashes exist). */
export async function listInvitations(deps: AccessDeps, userId: string, workspaceId: string): Promise<Invitation[]> {
  await accessWorkspace(deps, userId, workspaceId, 'admin');
  const rows = await deps.db('invitations').where({ workspace_id: workspaceId }).orderBy('id', 'desc').select(COLUMNS);
  return rows.map(toInvitation);
}

/** Idempotent: revoking a revoked invitation succeeds and keeps the first revocation time. */
export async function revokeInvitation(deps: AccessDeps, userId: string, workspaceId: string, invitationId: string): Promise<void> {
  await accessWorkspace(deps, userId, workspaceId, 'admin');
  const [row] = await deps
    .db('invitations')
    .where({ id: invitationId, workspace_id: workspaceId })
    .update({ revoked_at: deps.db.raw('coalesce(revoked_at, now())') })
    .returning('id');
  if (!row) throw new NotFoundError('invitation');
}

/** Usable: not revoked, not expired, not used up. Everything else is indistinguishable (404). */
function usable(query: any) {
  return query.whereNull('i.revoked_at').where('i.expires_at', '>', new Date()).whereRaw('i.uses < coalesce(i.max_uses, 1)');
}

export async function previewInvitation(deps: Pick<Deps, 'db'>, token: string) {
  const row = await usable(deps.db('invitations as i').join('workspaces as w', 'w.id', 'i.workspace_id').where('i.token_hash', sha256(token))).first(
    'w.id as workspace_id',
    'w.name as workspace_name',
    'i.role',
    'i.expires_at',
  );
  if (!row) throw new NotFoundError('invitation');
  return {
    workspace: { id: String(row.workspace_id), name: row.workspace_name as string },
    role: row.role as InvitationRole,
    expires_at: iso(row.expires_at)!,
  };
}

/**
 * Joins the workspace (workspace.member_joined). The invitation row is locked for the
 * transaction, and `uses` only moves while below the limit, so concurrent accepts never exceed
 * max_uses. Someone who is already a member gets their current role back and uses nothing.
 */
export async function acceptInvitation(
  deps: AccessDeps & OutboxDeps,
  userId: string,
  token: string,
): Promise<{ workspace: { id: string; name: string; slug: string }; role: Role }> {
  const result = await deps.db.transaction(async (trx) => {
    const invitation = await trx('invitations as i')
      .where('i.token_hash', sha256(token))
      .whereNull('i.revoked_at')
      .where('i.expires_at', '>', new Date())
      .forUpdate()
      .first('i.id', 'i.workspace_id', 'i.role', 'i.email', 'i.uses', 'i.max_uses');
    if (!invitation) throw new NotFoundError('invitation');
    const workspaceId = String(invitation.workspace_id);
    if (invitation.email) {
      const user = await trx('users').where({ id: userId }).first('email');
      // Someone else's invitation: as if it did not exist.
      if (!user || user.email.toLowerCase() !== invitation.email.toLowerCase()) throw new NotFoundError('invitation');
    }
    const workspace = await trx('workspaces').where({ id: workspaceId }).first('id', 'name', 'slug');
    const shape = { id: String(workspace.id), name: workspace.name as string, slug: workspace.slug as string };
    const existing = await trx('workspace_members').where({ workspace_id: workspaceId, user_id: userId }).first('role');
    if (existing) return { workspace: shape, role: existing.role as Role, recorded: [] };
    if (invitation.uses >= (invitation.max_uses ?? 1)) throw new NotFoundError('invitation');
    // A concurrent accept through another invitation may have added the user meanwhile.
    const inserted = await trx('workspace_members')
      .insert({ workspace_id: workspaceId, user_id: userId, role: invitation.role })
      .onConflict(['workspace_id', 'user_id'])
      .ignore()
      .returning('role');
    if (inserted.length === 0) {
      const current = await trx('workspace_members').where({ workspace_id: workspaceId, user_id: userId }).first('role');
      return { workspace: shape, role: current.role as Role, recorded: [] };
    }
    await trx('invitations').where({ id: invitation.id }).increment('uses', 1);
    return { workspace: shape, role: invitation.role as Role, recorded: await recordMemberEvent(trx, 'workspace.member_joined', workspaceId, userId) };
  });
  invalidateWorkspaceMember(deps, result.workspace.id, userId);
  await publishOutbox(deps, result.recorded);
  return { workspace: result.workspace, role: result.role };
}
