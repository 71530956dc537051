import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const outDir = mkdtempSync(join(tmpdir(), 'billing-cdk-out-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('cdk synth', () => {
  it('synthesizes the dev stage through the real CLI offline, with no AWS credentials and no Docker', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_EC2_METADATA_DISABLED: 'true',
      CDK_DISABLE_VERSION_CHECK: '1',
    };
    for (const name of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'])
      delete env[name];
    // DOCKER pointed at a missing binary: bundling must not need it.
    env.CDK_DOCKER = '/nonexistent/docker';
    await run('npx', ['cdk', 'synth', '-c', 'stage=dev', '--quiet', '-o', outDir], { env, timeout: 120_000 });
    const templateFile = join(outDir, 'Billing-dev.template.json');
    expect(existsSync(templateFile)).toBe(true);
    const template = JSON.parse(readFileSync(templateFile, 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    const types = Object.values(template.Resources).map((resource) => resource.Type);
    expect(types.filter((type) => type === 'AWS::DynamoDB::Table')).toHaveLength(3);
    expect(types).toContain('AWS::ApiGatewayV2::Api');
    expect(types).toContain('AWS::Events::EventBus');
  }, 150_000);
});
