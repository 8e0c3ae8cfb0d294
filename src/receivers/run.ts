/**
 * `tisw receivers`: the reference receivers (TIS CoJ receiver, ESR data exporter) in one process, until SIGINT/SIGTERM. Each consumes with
 * manual acks, so stopping hands unfinished messages back to the broker.
 */
import type { Config } from '../config/config';
import type { Logger } from '../config/logger';
import { openMongo } from '../adapters/mongo';
import { TisStore } from '../adapters/tis-store';
import type { Consumer } from '../adapters/amqp-consumer';
import { startCojReceiver } from './coj-receiver';
import { startEsrReceiver } from './esr-exporter';

export interface Receivers {
  ready: Promise<void>;
  stop(): Promise<void>;
}

export async function startReceivers(config: Config, log: Logger): Promise<Receivers> {
  const tis = await openMongo(config.mongo.tis, 'tisw-receivers');
  const consumers: Consumer[] = [startCojReceiver({ amqpUrl: config.amqp.url, tisStore: new TisStore(tis.db), log }), await startEsrReceiver(config, log)];
  return {
    ready: Promise.all(consumers.map((c) => c.ready)).then(() => undefined),
    async stop() {
      await Promise.allSettled(consumers.map((c) => c.stop()));
      await tis.close();
    },
  };
}

export async function runReceivers(config: Config, log: Logger): Promise<void> {
  const receivers = await startReceivers(config, log);
  await receivers.ready;
  log.info('reference receivers running');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await receivers.stop();
  log.info('reference receivers stopped');
}
