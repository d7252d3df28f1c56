#!/usr/bin/env node
// The subscribed client of bench/datapath.py (node-opcua, so the client's own decoding is not
// what limits the figures): one subscription monitoring every given node, counting data-change
// notifications and their latency (arrival - SourceTimestamp; the server and this client share
// the machine's clock). Optionally reads one node every 100 ms and times the round trip.
//
//   stdout, once every item is created: {"ready": true, "subscribe_s": <s>}
//   stdin "window"  stdout {"count": n, "seconds": s, "latency_ms": [p50, p99, max],
//                           "read_ms": [p50, p99, max] | null} since the previous window
//
// usage: node bench_client.js '<json: endpoint, namespace_uri, ids_file, publishing_ms,
//                               queue_size, read_probe>'
"use strict";

const fs = require("fs");
const readline = require("readline");
const {
    OPCUAClient,
    AttributeIds,
    ClientMonitoredItemGroup,
    TimestampsToReturn,
    MessageSecurityMode,
    SecurityPolicy,
} = require("node-opcua-client");

const BATCH = 1000;
const READ_PROBE_MS = 100;

function quantiles(values) {
    if (values.length === 0) return null;
    const sorted = Float64Array.from(values).sort();
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return [at(0.5), at(0.99), sorted[sorted.length - 1]];
}

async function main() {
    const opts = JSON.parse(process.argv[2]);
    const ids = JSON.parse(fs.readFileSync(opts.ids_file, "utf8"));
    const client = OPCUAClient.create({
        applicationName: "ampacity-bench-client",
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        endpointMustExist: false,
        connectionStrategy: { maxRetry: 3, initialDelay: 200, maxDelay: 1000 },
        requestedSessionTimeout: 600000,
        defaultTransactionTimeout: 120000,
        transportSettings: { maxMessageSize: 0, maxChunkCount: 0 },
    });
    await client.connect(opts.endpoint);
    const session = await client.createSession();
    const nsArray = await session.readNamespaceArray();
    const ns = nsArray.indexOf(opts.namespace_uri);
    if (ns < 0) throw new Error(`namespace ${opts.namespace_uri} not on the server`);
    const subscription = await session.createSubscription2({
        requestedPublishingInterval: opts.publishing_ms,
        requestedLifetimeCount: 6000,
        requestedMaxKeepAliveCount: 20,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 1,
    });

    let count = 0;
    let latencies = [];
    let reads = [];
    const started = Date.now();
    const groups = [];
    for (let first = 0; first < ids.length; first += BATCH) {
        const items = ids.slice(first, first + BATCH).map((id) => ({
            nodeId: `ns=${ns};s=${id}`,
            attributeId: AttributeIds.Value,
        }));
        const group = await ClientMonitoredItemGroup.create(
            subscription,
            items,
            { samplingInterval: 0, discardOldest: true, queueSize: opts.queue_size },
            TimestampsToReturn.Both
        );
        group.on("changed", (_item, dataValue) => {
            count += 1;
            if (dataValue.sourceTimestamp) {
                latencies.push(Date.now() - dataValue.sourceTimestamp.getTime());
            }
        });
        groups.push(group);
    }
    const subscribeS = (Date.now() - started) / 1000;

    if (opts.read_probe) {
        const probe = { nodeId: `ns=${ns};s=${ids[0]}`, attributeId: AttributeIds.Value };
        const readLoop = async () => {
            for (;;) {
                const t0 = process.hrtime.bigint();
                await session.read(probe);
                reads.push(Number(process.hrtime.bigint() - t0) / 1e6);
                await new Promise((resolve) => setTimeout(resolve, READ_PROBE_MS));
            }
        };
        readLoop().catch((err) => console.error(`read probe: ${err.message}`));
    }

    let windowStart = process.hrtime.bigint();
    readline.createInterface({ input: process.stdin }).on("line", (line) => {
        if (line.trim() !== "window") return;
        const now = process.hrtime.bigint();
        const out = {
            count,
            seconds: Number(now - windowStart) / 1e9,
            latency_ms: quantiles(latencies),
            read_ms: quantiles(reads),
        };
        count = 0;
        latencies = [];
        reads = [];
        windowStart = now;
        process.stdout.write(JSON.stringify(out) + "\n");
    });
    process.stdin.on("end", async () => {
        try {
            await subscription.terminate();
            await session.close();
            await client.disconnect();
        } finally {
            process.exit(0);
        }
    });
    process.stdout.write(JSON.stringify({ ready: true, subscribe_s: subscribeS }) + "\n");
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
