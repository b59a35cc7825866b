import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { KEY_SECRET_PATTERN, type KeyGrant, keyAllowsModel, keyRefusal, keyRestrictsModels } from '../src/keys.js';

const grant = (over: Partial<KeyGrant> = {}): KeyGrant => ({
  id: 'k1',
  name: 'team a',
  enabled: true,
  expires_at: null,
  allowed_models: [],
  allowed_providers: [],
  rpm: null,
  tpm: null,
  ...over,
});

describe('keyRefusal', () => {
  it('refuses a disabled key and a key at or after its expiry; accepts it before', () => {
    expect(keyRefusal(grant(), 1_000)).toBeNull();
    expect(keyRefusal(grant({ enabled: false }), 1_000)).toBe('disabled');
    expect(keyRefusal(grant({ expires_at: 1_000 }), 999)).toBeNull();
    expect(keyRefusal(grant({ expires_at: 1_000 }), 1_000)).toBe('expired');
    expect(keyRefusal(grant({ expires_at: 1_000 }), 1_001)).toBe('expired');
  });
});

describe('keyAllowsModel', () => {
  it('allows a model only when each non-empty list names it (or its provider)', () => {
    const ids = fc.constantFrom('a', 'b', 'c');
    const providers = fc.constantFrom('openai', 'anthropic', 'google');
    fc.assert(
      fc.property(fc.uniqueArray(ids), fc.uniqueArray(providers), ids, providers, (models, provs, id, provider) => {
        const g = { allowed_models: models, allowed_providers: provs };
        const expected = (models.length === 0 || models.includes(id)) && (provs.length === 0 || provs.includes(provider));
        expect(keyAllowsModel(g, { id, provider })).toBe(expected);
        expect(keyRestrictsModels(g)).toBe(models.length > 0 || provs.length > 0);
      }),
    );
  });
});

describe('KEY_SECRET_PATTERN', () => {
  it('accepts the prefix with 32 bytes of base64url and nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        expect(KEY_SECRET_PATTERN.test(`mr-${Buffer.from(bytes).toString('base64url')}`)).toBe(true);
      }),
    );
    const good = `mr-${Buffer.alloc(32, 7).toString('base64url')}`;
    for (const bad of [good.slice(1), `${good}x`, good.slice(0, -1), good.replace('mr-', 'sk-'), `${good.slice(0, -1)}=`, `${good.slice(0, -1)}+`]) {
      expect(KEY_SECRET_PATTERN.test(bad)).toBe(false);
    }
  });
});
