// An independent OPC UA client (node-opcua) for the alarm tests: logs in, subscribes to the
// events of the Server object with a select + where (OfType ConditionType) filter and prints
// one JSON line per event; commands arrive as JSON lines on stdin:
//   {"cmd": "ack", "conditionId": "ns=..;s=..", "eventId": "<hex>", "comment": "..."}
//   {"cmd": "refresh"}        ConditionRefresh for this client's subscription
//   {"cmd": "quit"}
// and each answers with a JSON line ({"ack": "<status name>"}, {"refresh": "<status name>"}).
// usage: node alarm_client.js '<json options>'
"use strict";
const path = require("path");
const readline = require("readline");
const {
    OPCUAClient,
    MessageSecurityMode,
    SecurityPolicy,
    AttributeIds,
    DataType,
    UserTokenType,
    TimestampsToReturn,
    constructEventFilter,
    resolveNodeId,
} = require("node-opcua-client");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");

const FIELDS = [
    "EventId",
    "EventType",
    "SourceNode",
    "Message",
    "Severity",
    "ConditionName",
    "Retain",
    "ActiveState.Id",
    "AckedState.Id",
    "Comment",
    "ClientUserId",
    "ConditionId",
];

function plain(variant) {
    const value = variant ? variant.value : null;
    if (value === null || value === undefined) return null;
    if (Buffer.isBuffer(value)) return value.toString("hex");
    if (value.text !== undefined) return value.text; // LocalizedText
    if (value.namespace !== undefined && value.identifierType !== undefined) return value.toString();
    if (value.name !== undefined && value.value !== undefined) return value.name; // StatusCode
    return value;
}

function print(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

async function main() {
    const opts = JSON.parse(process.argv[2]);
    const certificateManager = new OPCUACertificateManager({
        rootFolder: path.join(opts.pkiFolder, "nodeopcua-pki"),
        automaticallyAcceptUnknownCertificate: true,
    });
    await certificateManager.initialize();
    const client = OPCUAClient.create({
        applicationName: "ampacity-test-nodeopcua-alarms",
        applicationUri: opts.applicationUri,
        securityMode: MessageSecurityMode.SignAndEncrypt,
        securityPolicy: SecurityPolicy.Basic256Sha256,
        certificateFile: opts.certificateFile,
        privateKeyFile: opts.privateKeyFile,
        clientCertificateManager: certificateManager,
        endpointMustExist: false,
        connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
        requestedSessionTimeout: 60000,
    });
    await client.connect(opts.endpoint);
    const session = await client.createSession({
        type: UserTokenType.UserName,
        userName: opts.user,
        password: opts.password,
    });
    const subscription = await session.createSubscription2({
        requestedPublishingInterval: 50,
        requestedLifetimeCount: 6000,
        requestedMaxKeepAliveCount: 20,
        maxNotificationsPerPublish: 1000,
        publishingEnabled: true,
        priority: 1,
    });
    const filter = constructEventFilter(FIELDS, [resolveNodeId("ConditionType")]);
    const item = await subscription.monitor(
        { nodeId: resolveNodeId("Server"), attributeId: AttributeIds.EventNotifier },
        { samplingInterval: 0, filter, queueSize: 10000, discardOldest: false },
        TimestampsToReturn.Neither
    );
    item.on("changed", (fields) => {
        const event = {};
        FIELDS.forEach((name, i) => {
            event[name] = plain(fields[i]);
        });
        print({ event });
    });
    print({ ready: true, subscriptionId: subscription.subscriptionId });

    const lines = readline.createInterface({ input: process.stdin });
    for await (const line of lines) {
        const command = JSON.parse(line);
        if (command.cmd === "quit") break;
        if (command.cmd === "ack") {
            const result = await session.call({
                objectId: command.conditionId,
                methodId: resolveNodeId("AcknowledgeableConditionType_Acknowledge"),
                inputArguments: [
                    { dataType: DataType.ByteString, value: Buffer.from(command.eventId, "hex") },
                    { dataType: DataType.LocalizedText, value: { text: command.comment } },
                ],
            });
            print({ ack: result.statusCode.name });
        } else if (command.cmd === "refresh") {
            const result = await session.call({
                objectId: resolveNodeId("ConditionType"),
                methodId: resolveNodeId("ConditionType_ConditionRefresh"),
                inputArguments: [{ dataType: DataType.UInt32, value: subscription.subscriptionId }],
            });
            print({ refresh: result.statusCode.name });
        }
    }
    await subscription.terminate();
    await session.close();
    await client.disconnect();
}

main().then(
    () => process.exit(0),
    (err) => {
        print({ error: err.message });
        process.exit(1);
    }
);
