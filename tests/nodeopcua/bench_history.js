#!/usr/bin/env node
// HistoryRead raw of one node through node-opcua (bench/datapath.py): reads [start, end) with
// continuation points until the server has sent everything, times each complete read and prints
// {"values": n, "seconds": [s, ...]} (one per run).
//
// usage: node bench_history.js '<json: endpoint, namespace_uri, node, start, end, runs>'
"use strict";

const {
    OPCUAClient,
    MessageSecurityMode,
    SecurityPolicy,
    ReadRawModifiedDetails,
    TimestampsToReturn,
    StatusCodes,
} = require("node-opcua-client");
const { HistoryReadRequest } = require("node-opcua-service-history");

async function readAll(session, nodeId, start, end) {
    let continuationPoint = null;
    let values = 0;
    for (;;) {
        const response = await session.performMessageTransaction(
            new HistoryReadRequest({
                historyReadDetails: new ReadRawModifiedDetails({
                    isReadModified: false,
                    startTime: start,
                    endTime: end,
                    numValuesPerNode: 0,
                    returnBounds: false,
                }),
                timestampsToReturn: TimestampsToReturn.Both,
                releaseContinuationPoints: false,
                nodesToRead: [{ nodeId, continuationPoint }],
            })
        );
        const result = response.results[0];
        if (result.statusCode.isNotGood() && result.statusCode !== StatusCodes.GoodNoData) {
            throw new Error(`HistoryRead: ${result.statusCode.toString()}`);
        }
        values += result.historyData.dataValues.length;
        continuationPoint = result.continuationPoint;
        if (!continuationPoint || continuationPoint.length === 0) return values;
    }
}

async function main() {
    const opts = JSON.parse(process.argv[2]);
    const client = OPCUAClient.create({
        applicationName: "ampacity-bench-history",
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        endpointMustExist: false,
        connectionStrategy: { maxRetry: 3, initialDelay: 200, maxDelay: 1000 },
        defaultTransactionTimeout: 120000,
        transportSettings: { maxMessageSize: 0, maxChunkCount: 0 },
    });
    await client.connect(opts.endpoint);
    const session = await client.createSession();
    const ns = (await session.readNamespaceArray()).indexOf(opts.namespace_uri);
    const nodeId = `ns=${ns};s=${opts.node}`;
    const seconds = [];
    let values = 0;
    for (let run = 0; run < opts.runs; run++) {
        const t0 = process.hrtime.bigint();
        values = await readAll(session, nodeId, new Date(opts.start), new Date(opts.end));
        seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    await session.close();
    await client.disconnect();
    process.stdout.write(JSON.stringify({ values, seconds }) + "\n");
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
