/**
 * Writes self-contained kubeconfig files (certificates embedded as `*-data`).
 */
import { chmod, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { base64File } from './pki.ts';

export type Credentials = { readonly cert: string; readonly key: string } | { readonly token: string };

export async function writeKubeconfig(options: {
  path: string;
  server: string;
  caCert: string;
  user: string;
  credentials: Credentials;
  context?: string;
  namespace?: string;
}): Promise<void> {
  const context = options.context ?? 'manyfold-dev';
  const user =
    'token' in options.credentials
      ? { token: options.credentials.token }
      : {
          'client-certificate-data': await base64File(options.credentials.cert),
          'client-key-data': await base64File(options.credentials.key),
        };
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: context, cluster: { server: options.server, 'certificate-authority-data': await base64File(options.caCert) } }],
    users: [{ name: options.user, user }],
    contexts: [
      {
        name: context,
        context: { cluster: context, user: options.user, ...(options.namespace ? { namespace: options.namespace } : {}) },
      },
    ],
    'current-context': context,
    preferences: {},
  };
  await writeFile(options.path, stringify(doc), { mode: 0o600 });
  await chmod(options.path, 0o600);
}
