// An independent gRPC client (@grpc/grpc-js with @grpc/proto-loader loading our .proto at run time)
// on the multiplexed call: subscribes an ad hoc subscription (the events of one order, from an
// optional resume token) and a managed one on one StreamMultiplexed call, prints READY once both are
// open, reads until the managed one has `count` events, acknowledges them, then prints the events
// (each with its subscription tags), the last resume tokens and the acknowledgement as one JSON line,
// and hangs up.
// Usage: node grpc-multiplex-client.js <proto> <host:port> <order_id> <subscription_id> <count> [ad_hoc_resume_token]
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [, , protoPath, address, orderId, subscriptionId, count, resumeToken] = process.argv;
const definition = loader.loadSync(protoPath, { keepCase: true, longs: String, defaults: true, oneofs: true });
const api = grpc.loadPackageDefinition(definition).execdist.v1;
const client = new api.ExecutionStream(address, grpc.credentials.createInsecure());

const call = client.StreamMultiplexed();
const events = [];
const tokens = {};
let adhoc = '';
let opened = 0;
let managedCount = 0;
let acking = false;
let done = false;

const fail = (text) => {
  console.error(text);
  process.exit(2);
};

call.write({ request_id: 'adhoc', subscribe: { filter: { order_ids: [orderId] }, resume_token: resumeToken || '' } });
call.write({ request_id: 'managed', subscribe: { subscription_id: subscriptionId } });
call.on('data', (message) => {
  switch (message.body) {
    case 'subscribed':
      if (message.subscribed.request_id === 'adhoc') {
        adhoc = message.subscribed.subscription_id;
      }
      if (++opened === 2) {
        console.log('READY');
      }
      break;
    case 'events':
      for (const tagged of message.events.events) {
        const event = JSON.parse(Buffer.from(tagged.event_json).toString('utf8'));
        const tags = tagged.deliveries.map((d) => [d.subscription_id === subscriptionId ? 'managed' : 'adhoc', Number(d.sequence)]);
        events.push([event.event_id, tags]);
        managedCount += tags.filter((t) => t[0] === 'managed').length;
      }
      Object.assign(tokens, message.events.resume_tokens);
      if (!acking && managedCount >= Number(count)) {
        acking = true;
        call.write({ request_id: 'ack', ack: { subscription_id: subscriptionId, resume_token: tokens[subscriptionId] } });
      }
      break;
    case 'acked':
      done = true;
      console.log(JSON.stringify({
        events,
        adhoc_token: tokens[adhoc],
        acked: [message.acked.request_id, Number(message.acked.acknowledged_sequence)],
      }));
      call.cancel();
      break;
    case 'error':
      fail(`${message.error.request_id} ${message.error.code}: ${message.error.message}`);
      break;
    default:
      break;
  }
});
call.on('error', (error) => {
  if (error.code === grpc.status.CANCELLED && done) {
    process.exit(0);
  }
  fail(`${error.code}: ${error.details}`);
});
