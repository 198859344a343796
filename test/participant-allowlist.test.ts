import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { ConfigError, loadConfig } from '../src/config/config';
import type { RunningCoordinator } from '../src/coordinator';
import { ParticipantAllowlist } from '../src/engine/participant-allowlist';
import { createCoordinatorClient, expectGrpcError, forEachBackend, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

describe('participant allowlist (TCC_PARTICIPANT_ALLOW)', () => {
  describe('matching', () => {
    const list = ParticipantAllowlist.parse(
      'inventory.prod.svc:50061, *.accounts.svc:50051-50060, 10.20.0.0/16:*, [fd00::/8]:7000, 192.168.1.5:9000',
    );
    const cases: Array<[string, boolean]> = [
      ['inventory.prod.svc:50061', true],
      ['dns:///inventory.prod.svc:50061', true],
      ['INVENTORY.prod.svc.:50061', true],
      ['inventory.prod.svc:50062', false],
      ['evil-inventory.prod.svc:50061', false],
      ['a.accounts.svc:50055', true],
      ['a.b.accounts.svc:50051', true],
      ['accounts.svc:50051', false],
      ['a.accounts.svc:50061', false],
      ['10.20.3.4:3306', true],
      ['ipv4:10.20.3.4:6379', true],
      ['10.21.0.1:3306', false],
      ['[fd00::1]:7000', true],
      ['ipv6:[fd12:3456::1]:7000', true],
      ['[fe80::1]:7000', false],
      ['192.168.1.5:9000', true],
      ['192.168.1.6:9000', false],
      // The resolver reads these as addresses; no name rule may match them.
      ['127.1:50061', false],
      // A DNS authority is a server the coordinator would query: never allowed.
      ['dns://10.20.0.53/inventory.prod.svc:50061', false],
    ];
    for (const [target, allowed] of cases) {
      it(`${allowed ? 'allows' : 'refuses'} ${target}`, () => {
        expect(list.allows(target)).to.equal(allowed);
      });
    }

    it('refuses a bad entry at start, naming the variable', () => {
      for (const bad of ['inventory', 'host:0', 'host:70000', '10.0.0.0/33:1', '*:x', 'a..b:1', '[::1]']) {
        expect(() => loadConfig({ TCC_PARTICIPANT_ALLOW: bad }), bad).to.throw(ConfigError, /TCC_PARTICIPANT_ALLOW/);
      }
    });
  });

  forEachBackend((backend) => {
    let participant: TestParticipant;
    let coordinator: RunningCoordinator;
    let client: TestCoordinatorClient;

    before(async () => {
      participant = await startTestParticipant();
      coordinator = await startTestCoordinator(backend, { TCC_PARTICIPANT_ALLOW: `127.0.0.1:${participant.port}` });
      client = createCoordinatorClient(coordinator.address);
    });

    after(async () => {
      client?.close();
      await coordinator?.shutdown();
      await participant?.stop();
    });

    it('runs transactions on an allowed target', async () => {
      const txn = await client.execute({ branches: [{ participant: `127.0.0.1:${participant.port}`, action: 'debit', payload: Buffer.from('x') }] });
      expect(txn.status).to.be.oneOf(['CONFIRMING', 'CONFIRMED']);
    });

    it('refuses an Execute naming another target with PERMISSION_DENIED, storing nothing and dialling nothing', async () => {
      const gid = `allow-exec-${Date.now()}`;
      const callsBefore = participant.calls.length;
      const err = await expectGrpcError(
        client.execute({
          gid,
          branches: [
            { participant: `127.0.0.1:${participant.port}`, action: 'debit', payload: Buffer.from('x') },
            { participant: '127.0.0.1:3306', action: 'debit', payload: Buffer.from('x') },
          ],
        }),
        grpc.status.PERMISSION_DENIED,
      );
      expect(err.details).to.match(/branches\[1\]\.participant: target is not in the coordinator's participant allowlist/);
      await expectGrpcError(client.getTransaction({ gid }), grpc.status.NOT_FOUND);
      expect(participant.calls.length).to.equal(callsBefore);
    });

    it('refuses a Try naming another target, leaving the transaction without a branch', async () => {
      const { gid } = await client.begin({});
      await expectGrpcError(
        client.try({ gid, branch: { participant: 'localhost:6379', action: 'debit', payload: Buffer.from('x') } }),
        grpc.status.PERMISSION_DENIED,
      );
      const txn = await client.getTransaction({ gid });
      expect(txn.branches).to.have.length(0);
    });
  });
});
