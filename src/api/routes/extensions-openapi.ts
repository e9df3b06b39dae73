/**
 * OpenAPI 3.0 description of what taskproc adds to Nextcloud's TaskProcessing API, served raw at
 * `GET /ocs/v2.php/apps/taskproc/api/v1/openapi`. Upstream's own routes are described by
 * Nextcloud's core/openapi.json and not repeated here, except where taskproc adds a parameter or
 * answers differently. Kept as code, not a JSON file, so the build needs no copy step.
 */

const envelope = (data: object) => ({
  type: 'object',
  required: ['ocs'],
  properties: {
    ocs: {
      type: 'object',
      required: ['meta', 'data'],
      properties: { meta: { $ref: '#/components/schemas/OCSMeta' }, data },
    },
  },
});

const json = (description: string, data: object) => ({ description, content: { 'application/json': { schema: envelope(data) } } });
const message = { type: 'object', required: ['message'], properties: { message: { type: 'string' } } };
const exAppHeaders = [
  { name: 'EX-APP-ID', in: 'header', required: true, schema: { type: 'string' } },
  { name: 'EX-APP-VERSION', in: 'header', required: true, schema: { type: 'string' } },
  { name: 'AUTHORIZATION-APP-API', in: 'header', required: true, description: 'base64("<userId or empty>:<secret>")', schema: { type: 'string' } },
];
const taskId = { name: 'taskId', in: 'path', required: true, schema: { type: 'integer', format: 'int64' } };
const wait = {
  name: 'wait',
  in: 'query',
  required: false,
  description:
    'taskproc extension: long-poll. When no task can be claimed, the request stays open up to this many seconds ' +
    'and returns as soon as a task arrives. 0 (the default) answers at once, as upstream. More than the server limit ' +
    '(TASKPROC_MAX_WAIT, default 30), a negative or a non-numeric value gives 400. May also be sent in the JSON body.',
  schema: { type: 'number', minimum: 0, default: 0 },
};
const clientWait = {
  name: 'wait',
  in: 'query',
  required: false,
  description:
    'taskproc extension: long-poll. An ended task is answered at once; otherwise the request stays open up to this many ' +
    'seconds and answers as soon as the task changes (status, progress, partial output), else with the task as it is. ' +
    'Absent: the plain read, as upstream. More than the server limit (TASKPROC_MAX_WAIT, default 30) is capped; a negative ' +
    'or non-numeric value gives 400.',
  schema: { type: 'number', minimum: 0 },
};
const taskAnswer = json('The task, as upstream returns it', { type: 'object', required: ['task'], properties: { task: { type: 'object' } } });
const longPollTask = (summary: string, extra: object[], security: object[]) => ({
  get: {
    summary,
    parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', format: 'int64' } }, clientWait, ...extra],
    security,
    responses: {
      '200': taskAnswer,
      '400': json('Invalid wait', message),
      '404': json("Not the caller's task, no such task, or deleted while waiting", message),
    },
  },
});
const lists = [
  { name: 'providerIds[]', in: 'query', required: true, schema: { type: 'array', items: { type: 'string' } } },
  { name: 'taskTypeIds[]', in: 'query', required: true, schema: { type: 'array', items: { type: 'string' } } },
];
const leaseConflict = json(
  "The task is not running under this ExApp's lease (not claimed by it, its lease ran out and it was re-queued, or it is still scheduled). Nothing was changed.",
  message,
);

export const EXTENSIONS_OPENAPI = Object.freeze({
  openapi: '3.0.3',
  info: {
    title: 'taskproc extensions',
    version: '1.0.0',
    description:
      "What taskproc adds to Nextcloud's OCS TaskProcessing API. Every path exists under /ocs/v1.php and /ocs/v2.php; " +
      'v2 is shown. Claims are leases held by the claiming ExApp: progress, stream-result, file uploads and results are ' +
      'accepted only from it (409 otherwise), and finished tasks are never changed.',
  },
  paths: {
    '/ocs/v2.php/taskprocessing/tasks_provider/next': {
      get: {
        summary: 'Claim the next task (upstream P1), optionally long-polling',
        parameters: [...lists, wait, ...exAppHeaders],
        responses: {
          '200': json("A claimed task, RUNNING under this ExApp's lease", {
            type: 'object',
            required: ['task', 'provider'],
            properties: { task: { type: 'object' }, provider: { type: 'object', properties: { name: { type: 'string' } } } },
          }),
          '204': { description: 'No task within the wait time (v1: HTTP 200 with statuscode 204 and data null)' },
          '400': json('Invalid wait or missing lists', message),
        },
      },
    },
    '/ocs/v2.php/taskprocessing/tasks_provider/next_batch': {
      get: {
        summary: 'Claim up to numberOfTasks tasks (upstream P2), optionally long-polling',
        parameters: [
          ...lists,
          { name: 'numberOfTasks', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 1 } },
          wait,
          ...exAppHeaders,
        ],
        responses: {
          '200': json('Claimed tasks (the answer stays within 50 MiB of JSON); has_more: tasks of these types still wait', {
            type: 'object',
            required: ['tasks', 'has_more'],
            properties: {
              tasks: { type: 'array', items: { type: 'object', properties: { task: { type: 'object' }, provider: { type: 'string' } } } },
              has_more: { type: 'boolean' },
            },
          }),
          '400': json('numberOfTasks outside 1..1000, or an invalid wait', message),
        },
      },
    },
    '/ocs/v2.php/taskprocessing/tasks_provider/{taskId}/stream-result': {
      post: {
        summary: "Store a running task's intermediate output (upstream's set-intermediate-result); renews the lease",
        description:
          "Upstream's route (Nextcloud 35, PR #60500) with its answers: while the task runs, `output` (not validated) is the " +
          "task's output in GET task and the lists until the result replaces it; a task that is not running is answered " +
          'unchanged. taskproc adds the lease: a running task held by another ExApp gives 409 (upstream would show that ' +
          "ExApp's chunk), and the latest chunk stays readable by the task's owner at GET /apps/taskproc/api/v1/tasks/{id}/partial.",
        parameters: [taskId, ...exAppHeaders],
        requestBody: {
          content: { 'application/json': { schema: { type: 'object', required: ['output'], properties: { output: { type: 'object' } } } } },
        },
        responses: {
          '200': json('The task (unchanged when it is not running: scheduled, finished or cancelled)', {
            type: 'object',
            properties: { task: { type: 'object' } },
          }),
          '400': json('output missing, or not an object', message),
          '404': json('No such task ("Not found")', message),
          '409': json("The task is running under another ExApp's lease. Nothing was changed.", message),
        },
      },
    },
    '/ocs/v2.php/taskprocessing/tasks_provider/{taskId}/result': {
      post: {
        summary: "Report the result (upstream P6), with taskproc's stricter checks",
        description:
          'An output that fails validation, or names a file id not uploaded for this task through ' +
          'tasks_provider/{taskId}/file, fails the task and answers 200 with the FAILED task, as upstream; the reason is logged.',
        parameters: [taskId, ...exAppHeaders],
        responses: {
          '200': json('The task: final, or FAILED when the output failed validation', { type: 'object', properties: { task: { type: 'object' } } }),
          '404': json('No such task', message),
          '409': leaseConflict,
        },
      },
    },
    '/ocs/v2.php/taskprocessing/tasks_provider/{taskId}/progress': {
      post: {
        summary: 'Report progress (upstream P5); renews the lease',
        parameters: [taskId, { name: 'progress', in: 'query', required: true, schema: { type: 'number', minimum: 0, maximum: 1 } }, ...exAppHeaders],
        responses: {
          '200': json('The task (unchanged when it is already finished or cancelled)', { type: 'object', properties: { task: { type: 'object' } } }),
          '400': json('progress is not a number from 0 to 1', message),
          '404': json('No such task', message),
          '409': leaseConflict,
        },
      },
    },
    '/ocs/v2.php/taskprocessing/task/{id}': longPollTask(
      "The caller's task (upstream's GET task), optionally long-polling for a change",
      [],
      [{ basic_auth: [] }, { bearer_auth: [] }],
    ),
    '/ocs/v2.php/taskprocessing/tasks_consumer/task/{id}': longPollTask(
      "An ExApp client's task (upstream's tasks_consumer GET task), optionally long-polling for a change",
      exAppHeaders,
      [],
    ),
    '/ocs/v2.php/apps/taskproc/api/v1/tasks/{id}/partial': {
      get: {
        summary: "The latest intermediate output a worker streamed for the caller's task",
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', format: 'int64' } }],
        security: [{ basic_auth: [] }, { bearer_auth: [] }],
        responses: {
          '200': json('null until a worker streams something', {
            type: 'object',
            required: ['taskId', 'partialOutput'],
            properties: { taskId: { type: 'integer' }, partialOutput: { type: 'object', nullable: true } },
          }),
          '404': json("Not the caller's task, or no such task", message),
        },
      },
    },
    '/ocs/v2.php/apps/taskproc/api/v1/queue': {
      get: {
        summary: 'The waiting tasks of each type per priority and per party, and the running ones (admins only)',
        description:
          "Beside upstream's queue_stats, which keeps its answer (issue 22). Per type: the SCHEDULED tasks per priority " +
          '(highest first) and per party, the 100 parties with the most waiting first (ties: the one waiting longest), ' +
          'the rest counted in otherParties and otherPartiesScheduled. A party is a user (its user id), every anonymous ' +
          'session together ("anonymous"; session keys are never shown), or an ExApp scheduling without a user ' +
          '("app:<appId>"); kind tells them apart. Types by id; without taskTypeIds, every type with a task waiting or running.',
        parameters: [
          {
            name: 'taskTypeIds[]',
            in: 'query',
            required: false,
            description: 'Only these types (each answered, with zeros when nothing waits), at most 1000; absent: every type with tasks.',
            schema: { type: 'array', items: { type: 'string' } },
          },
        ],
        security: [{ basic_auth: [] }, { bearer_auth: [] }],
        responses: {
          '200': json('The queues', {
            type: 'object',
            required: ['types'],
            properties: {
              types: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['taskTypeId', 'scheduled', 'running', 'byPriority', 'byParty', 'otherParties', 'otherPartiesScheduled'],
                  properties: {
                    taskTypeId: { type: 'string' },
                    scheduled: { type: 'integer' },
                    running: { type: 'integer' },
                    byPriority: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['priority', 'scheduled'],
                        properties: { priority: { type: 'integer' }, scheduled: { type: 'integer' } },
                      },
                    },
                    byParty: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['party', 'kind', 'scheduled'],
                        properties: {
                          party: { type: 'string' },
                          kind: { type: 'string', enum: ['user', 'anonymous', 'app'] },
                          scheduled: { type: 'integer' },
                        },
                      },
                    },
                    otherParties: { type: 'integer' },
                    otherPartiesScheduled: { type: 'integer' },
                  },
                },
              },
            },
          }),
          '400': json('taskTypeIds is not a list of strings, or names more than 1000 types', message),
          '403': json('The caller is not an admin', message),
        },
      },
    },
    '/ocs/v2.php/apps/taskproc/api/v1/openapi': {
      get: { summary: 'This document (raw JSON, no OCS envelope)', responses: { '200': { description: 'OpenAPI 3.0 document' } } },
    },
  },
  components: {
    schemas: {
      OCSMeta: {
        type: 'object',
        required: ['status', 'statuscode', 'message'],
        properties: {
          status: { type: 'string' },
          statuscode: { type: 'integer' },
          message: { type: 'string' },
          totalitems: { type: 'string' },
          itemsperpage: { type: 'string' },
        },
      },
    },
    securitySchemes: {
      basic_auth: { type: 'http', scheme: 'basic' },
      bearer_auth: { type: 'http', scheme: 'bearer' },
    },
  },
});
