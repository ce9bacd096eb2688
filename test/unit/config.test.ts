import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseEnv } from '../../src/config.js';

describe('configuration', () => {
  it('applies documented defaults', () => {
    const config = parseEnv({});
    expect(config.PORT).toBe(8080);
    expect(config.ENABLE_CIRCUIT_BREAKER).toBe(true);
    expect(config.WORKER_QUEUES).toEqual(['persist', 'receipts', 'search', 'notifications', 'webhooks', 'unfurl']);
    // Sizes as the README and .env.example give them (no 32-bit overflow in the defaults).
    expect(config.UPLOAD_MAX_BYTES).toBe(26_214_400);
    expect(config.WORKSPACE_STORAGE_QUOTA_BYTES).toBe(10_737_418_240);
    expect(config.UPLOAD_TIMEOUT_MS).toBe(600_000);
    expect(config.NOTIFY_DELAY_SECONDS).toBe(60);
    expect(config.PERSIST_BATCH_SIZE).toBe(500);
  });

  it('reports one clear message per bad value', () => {
    try {
      parseEnv({ PORT: 'eighty', REDIS_URL: 'http://x', CONNECTION_LIMIT: '0', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(4);
      expect(problems.join('\n')).toMatch(/PORT: must be a number/);
      expect(problems.join('\n')).toMatch(/REDIS_URL: must be a redis: or rediss:\/\/ URL/);
    }
  });

  it('treats empty values as unset and parses lists', () => {
    const config = parseEnv({ PORT: '', WORKER_QUEUES: 'persist, search', CORS_ORIGINS: 'https://a.example,https://b.example' });
    expect(config.PORT).toBe(8080);
    expect(config.WORKER_QUEUES).toEqual(['persist', 'search']);
    expect(config.CORS_ORIGINS).toHaveLength(2);
  });

  it('requires JWT_SECRET in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET: required/);
  });

  it('generates and persists a development JWT secret with a warning', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const warnings: string[] = [];
    const first = loadConfig({ DATA_DIR: dir }, (m) => warnings.push(m));
    const second = loadConfig({ DATA_DIR: dir }, (m) => warnings.push(m));
    expect(first.JWT_SECRET.length).toBeGreaterThanOrEqual(32);
    expect(second.JWT_SECRET).toBe(first.JWT_SECRET);
    expect(readFileSync(path.join(dir, 'jwt-secret'), 'utf8')).toBe(first.JWT_SECRET);
    expect(warnings).toHaveLength(1);
  });

  it('requires ADMIN_USER and ADMIN_PASSWORD together', () => {
    expect(() => parseEnv({ ADMIN_USER: 'admin' })).toThrow(/set both or neither/);
  });
});
