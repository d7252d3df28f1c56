#!/usr/bin/env node
// The node-opcua reference server of bench/datapath.py: N analog Double variables (with
// EngineeringUnits and EURange, as Ampacity's points have), grouped 12 to an object like
// Ampacity's meters, changed by commands on stdin. Speaks the bench's line protocol:
//
//   stdout, once ready: {"ready": true, "build_s": <s to add the N variables>,
//                        "namespace_uri": ..., "node_ids": [<string NodeIds>]}
//   stdin "mode paced"     every variable changes once a second (SourceTimestamp = change time)
//   stdin "mode saturate"  all variables change, again and again, as fast as the server can
//   stdin "mode idle"      no changes
//   stdin "stats"          stdout {"changes": n, "gc_pauses_s": [...], "stalls_s": [...]}
//                          (since the previous "stats"; stalls: timer wake-ups > 100 ms late)
//
// usage: node bench_server.js <points> <port> <pki folder>
"use strict";

const path = require("path");
const readline = require("readline");
const { PerformanceObserver } = require("perf_hooks");
const { OPCUAServer } = require("node-opcua-server");
const { DataType } = require("node-opcua-variant");
const { StatusCodes } = require("node-opcua-status-code");
const { standardUnits } = require("node-opcua-data-access");
const { MessageSecurityMode } = require("node-opcua-service-secure-channel");
const { SecurityPolicy } = require("node-opcua-secure-channel");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");
const { nodesets } = require("node-opcua-nodesets");

const POINTS_PER_OBJECT = 12;
const NAMESPACE_URI = "urn:ampacity:bench:nodeopcua";
const STALL_PROBE_MS = 20;
const STALL_LIMIT_MS = 100;

async function main() {
    const points = parseInt(process.argv[2], 10);
    const port = parseInt(process.argv[3], 10);
    const pki = process.argv[4];
    const serverCertificateManager = new OPCUACertificateManager({
        rootFolder: path.join(pki, "server"),
        automaticallyAcceptUnknownCertificate: true,
    });
    const server = new OPCUAServer({
        port,
        resourcePath: "/bench",
        nodeset_filename: [nodesets.standard],
        serverCertificateManager,
        securityModes: [MessageSecurityMode.None],
        securityPolicies: [SecurityPolicy.None],
        allowAnonymous: true,
        maxConnectionsPerEndpoint: 20,
        serverCapabilities: {
            maxSessions: 20,
            maxMonitoredItems: 1_000_000,
            maxMonitoredItemsPerSubscription: 1_000_000,
            maxMonitoredItemsQueueSize: 10_000,
            operationLimits: { maxMonitoredItemsPerCall: 100_000, maxNodesPerRead: 100_000 },
        },
    });
    await server.initialize();
    const addressSpace = server.engine.addressSpace;
    const namespace = addressSpace.registerNamespace(NAMESPACE_URI);
    const started = process.hrtime.bigint();
    const variables = [];
    const nodeIds = [];
    let parent = null;
    for (let i = 0; i < points; i++) {
        if (i % POINTS_PER_OBJECT === 0) {
            const id = `meter${String(i / POINTS_PER_OBJECT).padStart(5, "0")}`;
            parent = namespace.addObject({
                organizedBy: addressSpace.rootFolder.objects,
                browseName: id,
                nodeId: `s=${id}`,
            });
        }
        const key = `${parent.browseName.name}.P${i % POINTS_PER_OBJECT}`;
        variables.push(
            namespace.addAnalogDataItem({
                componentOf: parent,
                browseName: `P${i % POINTS_PER_OBJECT}`,
                nodeId: `s=${key}`,
                dataType: DataType.Double,
                engineeringUnits: standardUnits.watt,
                engineeringUnitsRange: { low: -1e9, high: 1e9 },
                minimumSamplingInterval: 0,
                value: { dataType: DataType.Double, value: 0 },
            })
        );
        nodeIds.push(key);
    }
    const buildS = Number(process.hrtime.bigint() - started) / 1e9;
    await server.start();

    let mode = "idle";
    let round = 0;
    let changes = 0;
    const change = () => {
        round += 1;
        const sourceTimestamp = new Date();
        for (let i = 0; i < variables.length; i++) {
            variables[i].setValueFromSource(
                { dataType: DataType.Double, value: round * 1000 + i },
                StatusCodes.Good,
                sourceTimestamp
            );
        }
        changes += variables.length;
    };
    const saturate = () => {
        if (mode !== "saturate") return;
        change();
        setImmediate(saturate);
    };
    setInterval(() => {
        if (mode === "paced") change();
    }, 1000);

    const gcPauses = [];
    new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) gcPauses.push(entry.duration / 1000);
    }).observe({ entryTypes: ["gc"] });
    const stalls = [];
    let last = Date.now();
    setInterval(() => {
        const now = Date.now();
        const late = now - last - STALL_PROBE_MS;
        if (late > STALL_LIMIT_MS) stalls.push(late / 1000);
        last = now;
    }, STALL_PROBE_MS);

    readline.createInterface({ input: process.stdin }).on("line", (line) => {
        const [command, argument] = line.trim().split(/\s+/);
        if (command === "mode") {
            mode = argument;
            if (mode === "saturate") setImmediate(saturate);
        } else if (command === "stats") {
            const out = { changes, gc_pauses_s: gcPauses.splice(0), stalls_s: stalls.splice(0) };
            process.stdout.write(JSON.stringify(out) + "\n");
        }
    });
    process.stdin.on("end", async () => {
        await server.shutdown(0);
        process.exit(0);
    });
    process.stdout.write(
        JSON.stringify({
            ready: true,
            build_s: buildS,
            namespace_uri: NAMESPACE_URI,
            node_ids: nodeIds,
            endpoint: `opc.tcp://127.0.0.1:${port}/bench`,
        }) + "\n"
    );
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
