import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
    // The API handlers' Lambdas are in the nested stack, whose template the synth writes beside it.
    const nested = readdirSync(outDir).filter((file) => file.endsWith('.nested.template.json'));
    expect(nested).toHaveLength(1);
    const nestedTemplate = JSON.parse(readFileSync(join(outDir, nested[0] as string), 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    const nestedTypes = Object.values(nestedTemplate.Resources).map((resource) => resource.Type);
    expect(nestedTypes.filter((type) => type === 'AWS::Lambda::Function').length).toBeGreaterThan(40);
  }, 150_000);
});
