#!/usr/bin/env node
// Load Ampacity.NodeSet2.xml with node-opcua (an OPC UA stack independent of asyncua) on top of the
// standard nodeset, instantiate every concrete type with all its optional children, and print a
// JSON summary on stdout. Everything node-opcua logs is collected as "messages" (none expected).
//
// Usage: node load_nodeset.js <path/to/Ampacity.NodeSet2.xml> <namespace URI>
"use strict";

const path = require("path");
const { AddressSpace } = require("node-opcua-address-space");
const { generateAddressSpace } = require("node-opcua-address-space/nodeJS");
const { nodesets } = require("node-opcua-nodesets");

const ACCESS_CURRENT_WRITE = 0x02;
const NODE_CLASS_OBJECT = 1;
const NODE_CLASS_VARIABLE = 2;

function captureConsole() {
    const messages = [];
    const saved = {};
    for (const name of ["log", "warn", "error", "info", "debug"]) {
        saved[name] = console[name];
        console[name] = (...args) => messages.push(args.map(String).join(" "));
    }
    const restore = () => Object.assign(console, saved);
    return { messages, restore };
}

function unitOf(variable) {
    const eu = variable.getPropertyByName("EngineeringUnits");
    if (!eu) return null;
    const value = eu.readValue().value.value;
    if (!value) return { missingValue: true };
    return {
        namespaceUri: value.namespaceUri,
        unitId: value.unitId,
        displayName: value.displayName && value.displayName.text,
    };
}

function rangeOf(variable) {
    const range = variable.getPropertyByName("EURange");
    if (!range) return null;
    const value = range.readValue().value.value;
    return value ? { low: value.low, high: value.high } : { missingValue: true };
}

function describeVariable(variable) {
    const summary = {
        typeDefinition: variable.typeDefinitionObj.browseName.name,
        dataType: variable.dataType.toString(),
        modellingRule: variable.modellingRule || null,
        writable: (variable.accessLevel & ACCESS_CURRENT_WRITE) !== 0,
        description: variable.description ? variable.description.text : null,
    };
    const unit = unitOf(variable);
    if (unit) summary.engineeringUnits = unit;
    const range = rangeOf(variable);
    if (range) summary.euRange = range;
    const enumValues = variable.getPropertyByName("EnumValues");
    if (enumValues) summary.enumValues = (enumValues.readValue().value.value || []).length;
    const trueState = variable.getPropertyByName("TrueState");
    if (trueState) summary.trueState = trueState.readValue().value.value.text;
    return summary;
}

function describeType(objectType, addressSpace) {
    const variables = {};
    const objects = {};
    for (const child of objectType.getAggregates()) {
        if (child.nodeClass === NODE_CLASS_VARIABLE) {
            variables[child.browseName.name] = describeVariable(child);
        } else if (child.nodeClass === NODE_CLASS_OBJECT) {
            objects[child.browseName.name] = {
                typeDefinition: child.typeDefinitionObj.browseName.name,
                modellingRule: child.modellingRule || null,
                children: child.getAggregates().map((c) => c.browseName.name),
            };
        }
    }
    const supertype = objectType.subtypeOfObj;
    const energyAssetType = addressSpace.findObjectType(
        "EnergyAssetType",
        objectType.nodeId.namespace,
    );
    return {
        nodeId: objectType.nodeId.toString(),
        supertype: supertype ? supertype.browseName.name : null,
        isAbstract: objectType.isAbstract,
        isEnergyAsset: energyAssetType ? objectType.isSubtypeOf(energyAssetType) : false,
        variableCount: Object.keys(variables).length,
        variables,
        objects,
    };
}

function instantiateAll(objectType, addressSpace) {
    const optionals = objectType
        .getAggregates()
        .filter((c) => c.modellingRule === "Optional")
        .map((c) => c.browseName.name);
    const instance = objectType.instantiate({
        browseName: `${objectType.browseName.name}Instance`,
        organizedBy: addressSpace.rootFolder.objects,
        optionals,
    });
    const ident = instance.getChildByName("Identification");
    const health = instance.getChildByName("Health");
    return {
        optionalsRequested: optionals.length,
        components: instance.getAggregates().map((c) => c.browseName.name).sort(),
        identification: ident ? ident.getAggregates().map((c) => c.browseName.name) : null,
        health: health ? health.getAggregates().map((c) => c.browseName.name) : null,
    };
}

async function main() {
    const [nodesetArg, namespaceUri] = process.argv.slice(2);
    if (!nodesetArg || !namespaceUri) {
        throw new Error("usage: node load_nodeset.js <NodeSet2.xml> <namespace URI>");
    }
    const nodesetPath = path.resolve(nodesetArg);
    const addressSpace = AddressSpace.create();
    const summary = {
        nodeOpcua: require("node-opcua-address-space/package.json").version,
        nodeset: nodesetPath,
        namespaceUri,
        types: {},
        instances: {},
        errors: [],
    };
    const started = Date.now();
    try {
        await generateAddressSpace(addressSpace, [nodesets.standard, nodesetPath]);
    } catch (err) {
        summary.errors.push(`load: ${err && err.stack ? err.stack : err}`);
    }
    summary.loadMilliseconds = Date.now() - started;

    const namespace = addressSpace.getNamespace(namespaceUri);
    if (!namespace) {
        summary.errors.push(`namespace ${namespaceUri} not found`);
    } else {
        summary.namespaceIndex = namespace.index;
        summary.nodeCount = Array.from(namespace.nodeIterator()).length;
        for (const objectType of namespace._objectTypeIterator()) {
            const name = objectType.browseName.name;
            try {
                summary.types[name] = describeType(objectType, addressSpace);
                if (!objectType.isAbstract) {
                    summary.instances[name] = instantiateAll(objectType, addressSpace);
                }
            } catch (err) {
                summary.errors.push(`${name}: ${err && err.stack ? err.stack : err}`);
            }
        }
    }
    addressSpace.dispose();
    return summary;
}

// node-opcua logs through console.*: collect it, so that stdout carries only the JSON summary.
const capture = captureConsole();
main()
    .catch((err) => ({ errors: [String(err && err.stack ? err.stack : err)] }))
    .then((summary) => {
        capture.restore();
        summary.messages = capture.messages;
        process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
    });
