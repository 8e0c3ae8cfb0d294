/**
 * The reference receivers (TIS CoJ receiver, ESR data exporter) and the reference TIS sync in one process, as
 * `tisw receivers` and `tisw up` run them. Each receiver consumes with manual acks, so stopping hands
 * unfinished messages back to the broker; the sync keeps its position in TIS's store.
 */
import type { Config } from '../config/config';
import type { Logger } from '../config/logger';
import { openMongo } from '../adapters/mongo';
import { TisStore, type StoreResult } from '../adapters/tis-store';
import type { Consumer } from '../adapters/amqp-consumer';
import { startCojReceiver } from './coj-receiver';
import { startConfiguredEsrExporter } from './esr-exporter';
import { startConfiguredTisSync } from './tis-sync';

export interface Receivers {
  ready: Promise<void>;
  stop(): Promise<void>;
}

export interface ReceiversOptions {
  /**
   * Run the reference TIS sync too (TIS copying each stored CoJ back onto TSS's profile). By default it runs
   * where CoJs are acknowledged that way (COJ_ACKNOWLEDGEMENT=synced, TIS as it runs today); with `reply`
   * the local TIS is one that adopted the reply contract, and the workflow writes syncedAt itself.
   */
  tisSync?: boolean;
}

export async function startReceivers(config: Config, log: Logger, options: ReceiversOptions = {}): Promise<Receivers> {
  const tis = await openMongo(config.mongo.tis, 'tisw-receivers');
  const sync = (options.tisSync ?? config.coj.acknowledgement === 'synced') ? await startConfiguredTisSync(config, log) : undefined;
  const parts: Consumer[] = [
    // The receiver tells the sync what it stored, as TIS's change data capture pushes each change to TIS's sync.
    startCojReceiver({ amqpUrl: config.amqp.url, tisStore: new TisStore(tis.db), log, ...(sync && { onStored: (id: string, result: StoreResult) => sync.stored(id, result) }) }),
    await startConfiguredEsrExporter(config, log),
    ...(sync ? [sync] : []),
  ];
  return {
    ready: Promise.all(parts.map((c) => c.ready)).then(() => undefined),
    async stop() {
      await Promise.allSettled(parts.map((c) => c.stop()));
      await tis.close();
    },
  };
}
