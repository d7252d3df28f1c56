// An independent OPC UA client (node-opcua) for the security tests: connects with the given
// policy, mode, client certificate and user, tries each operation and prints a JSON outcome.
// usage: node secure_client.js '<json options>'
"use strict";
const path = require("path");
const {
    OPCUAClient,
    MessageSecurityMode,
    SecurityPolicy,
    AttributeIds,
    DataType,
    UserTokenType,
} = require("node-opcua-client");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");

function statusName(status) {
    return status && status.name ? status.name : String(status);
}

async function main() {
    const opts = JSON.parse(process.argv[2]);
    const out = {};
    const certificateManager = new OPCUACertificateManager({
        rootFolder: path.join(opts.pkiFolder, "nodeopcua-pki"),
        automaticallyAcceptUnknownCertificate: true,
    });
    await certificateManager.initialize();
    const client = OPCUAClient.create({
        applicationName: "ampacity-test-nodeopcua",
        applicationUri: opts.applicationUri,
        securityMode: MessageSecurityMode[opts.mode],
        securityPolicy: SecurityPolicy[opts.policy],
        certificateFile: opts.certificateFile,
        privateKeyFile: opts.privateKeyFile,
        clientCertificateManager: certificateManager,
        endpointMustExist: false,
        connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
        requestedSessionTimeout: 10000,
    });
    try {
        await client.connect(opts.endpoint);
    } catch (err) {
        out.connect = "error: " + err.message;
        console.log(JSON.stringify(out));
        return;
    }
    let session;
    try {
        const identity = opts.user
            ? { type: UserTokenType.UserName, userName: opts.user, password: opts.password }
            : { type: UserTokenType.Anonymous };
        session = await client.createSession(identity);
        out.connect = "ok";
    } catch (err) {
        out.connect = "error: " + err.message;
        await client.disconnect();
        console.log(JSON.stringify(out));
        return;
    }
    try {
        const dv = await session.read({ nodeId: opts.readNode, attributeId: AttributeIds.Value });
        out.read = statusName(dv.statusCode);
        const level = await session.read({ nodeId: opts.readNode, attributeId: AttributeIds.UserAccessLevel });
        out.userAccessLevel = level.value.value;
        const status = await session.write({
            nodeId: opts.readNode,
            attributeId: AttributeIds.Value,
            value: { value: { dataType: DataType.Double, value: opts.writeValue } },
        });
        out.write = statusName(status);
        const result = await session.call({
            objectId: opts.marketerObject,
            methodId: opts.marketerMethod,
            inputArguments: [{ dataType: DataType.Double, value: 50.0 }],
        });
        out.callMarketer = statusName(result.statusCode);
        const exec = await session.read({ nodeId: opts.marketerMethod, attributeId: AttributeIds.UserExecutable });
        out.userExecutableMarketer = exec.value.value;
    } catch (err) {
        out.error = err.message;
    }
    await session.close();
    await client.disconnect();
    console.log(JSON.stringify(out));
}

main().then(
    () => process.exit(0),
    (err) => {
        console.error(err);
        process.exit(1);
    },
);
