/**
 * The reference receivers (TIS CoJ receiver, ESR data exporter) in one process, as `tisw receivers` and
 * `tisw up` run them. Each consumes with manual acks, so stopping hands unfinished messages back to the broker.
 */
import type { Config } from '../config/config';
import type { Logger } from '../config/logger';
import { openMongo } from '../adapters/mongo';
import { TisStore } from '../adapters/tis-store';
import type { Consumer } from '../adapters/amqp-consumer';
import { startCojReceiver } from './coj-receiver';
import { startConfiguredEsrExporter } from './esr-exporter';

export interface Receivers {
  ready: Promise<void>;
  stop(): Promise<void>;
}

export async function startReceivers(config: Config, log: Logger): Promise<Receivers> {
  const tis = await openMongo(config.mongo.tis, 'tisw-receivers');
  const consumers: Consumer[] = [startCojReceiver({ amqpUrl: config.amqp.url, tisStore: new TisStore(tis.db), log }), await startConfiguredEsrExporter(config, log)];
  return {
    ready: Promise.all(consumers.map((c) => c.ready)).then(() => undefined),
    async stop() {
      await Promise.allSettled(consumers.map((c) => c.stop()));
      await tis.close();
    },
  };
}
