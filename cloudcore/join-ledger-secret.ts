import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { emptyLedger, type LedgerData, type LedgerStore, parseLedger } from './join-ledger.js';
import { statusOf } from './lease.js';

/** The Secret that holds the join ledger of replicated cloudcores, and its key. */
export const LEDGER_SECRET = 'edgetwin-join-ledger';
const KEY = 'ledger.json';

/**
 * The join ledger in a Kubernetes Secret (`edgetwin-join-ledger`, key `ledger.json`), shared by every cloudcore
 * replica: written with the resourceVersion it was read at, so that of two replicas changing it at once one
 * wins and the other makes its change again on what the first wrote (a token is never spent twice). A Secret
 * holds at most 1 MiB: some 5 000 joined nodes, spent tokens being forgotten an hour after they expire.
 */
export class SecretLedgerStore implements LedgerStore {
  readonly where: string;
  private readonly api: CoreV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly namespace: string,
    private readonly name = LEDGER_SECRET,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
    this.where = `Secret ${namespace}/${name}`;
  }

  async read(): Promise<{ data: LedgerData; version?: string }> {
    let secret: V1Secret;
    try {
      secret = await this.api.readNamespacedSecret({ name: this.name, namespace: this.namespace });
    } catch (error) {
      if (statusOf(error) === 404) return { data: emptyLedger() };
      throw error;
    }
    const text = secret.data?.[KEY];
    const data = text ? parseLedger(Buffer.from(text, 'base64').toString('utf8'), this.where) : emptyLedger();
    return { data, version: secret.metadata?.resourceVersion ?? '' };
  }

  async write(data: LedgerData, version: string | undefined): Promise<boolean> {
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/name': 'edgetwin', 'app.kubernetes.io/component': 'join-ledger' },
        ...(version !== undefined ? { resourceVersion: version } : {}),
      },
      data: { [KEY]: Buffer.from(JSON.stringify(data)).toString('base64') },
    };
    try {
      if (version === undefined) await this.api.createNamespacedSecret({ namespace: this.namespace, body });
      else await this.api.replaceNamespacedSecret({ name: this.name, namespace: this.namespace, body });
      return true;
    } catch (error) {
      // 409: written (or created) by another replica since it was read; 404: deleted since.
      if (statusOf(error) === 409 || (version !== undefined && statusOf(error) === 404)) return false;
      throw error;
    }
  }
}
