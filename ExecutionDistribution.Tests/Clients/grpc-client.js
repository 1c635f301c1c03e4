// An independent gRPC client (@grpc/grpc-js with @grpc/proto-loader loading our .proto at run time):
// streams the events of one order, prints READY once attached, then prints the events and the last
// resume token as one JSON line after `count` events, and hangs up.
// Usage: node grpc-client.js <proto> <host:port> <order_id> <count> [resume_token]
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [, , protoPath, address, orderId, count, resumeToken] = process.argv;
const definition = loader.loadSync(protoPath, { keepCase: true, longs: String, defaults: true });
const api = grpc.loadPackageDefinition(definition).execdist.v1;
const client = new api.ExecutionStream(address, grpc.credentials.createInsecure());

// A bearer token from the environment (EXECDIST_TOKEN), sent in the call's metadata.
const metadata = new grpc.Metadata();
if (process.env.EXECDIST_TOKEN) metadata.add('authorization', `Bearer ${process.env.EXECDIST_TOKEN}`);
const call = client.StreamExecution({ filter: { order_ids: [orderId] }, resume_token: resumeToken || '' }, metadata);
const received = [];
let token = '';
let done = false;
call.on('metadata', () => console.log('READY'));
call.on('data', (message) => {
  token = message.resume_token || token;
  if (message.events) {
    for (const delivery of message.events.deliveries) {
      const event = JSON.parse(Buffer.from(delivery.event_json).toString('utf8'));
      received.push([event.event_id, Number(delivery.sequence)]);
    }
  }
  if (!done && received.length >= Number(count)) {
    done = true;
    console.log(JSON.stringify({ events: received, token }));
    call.cancel();
  }
});
call.on('error', (error) => {
  if (error.code === grpc.status.CANCELLED && done) {
    process.exit(0);
  }
  console.error(`${error.code}: ${error.details}`);
  process.exit(2);
});
