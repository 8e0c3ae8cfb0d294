import { dueWindow } from '../src/adapters/esr-store';
import { recordLine, renderAppFile } from '../src/receivers/esr-exporter';
import { daysBetween } from '../src/client/esr';
import { appFileName } from '../src/shared/esr';

describe('ESR rules that need no server', () => {
  it('counts a placement as due from 2 days after the run date (inclusive) to 13 weeks after it (exclusive)', () => {
    expect(dueWindow('2021-07-30')).toEqual({ from: '2021-08-01', before: '2021-10-29' });
    expect(dueWindow('2024-02-27')).toEqual({ from: '2024-02-29', before: '2024-05-28' });
  });

  it("names files as TIS does: DE_<DEANERY>_APP_<YYYYMMDD>_<8-digit sequence>.DAT", () => {
    expect(appFileName('KSS', '2021-05-06', 2689)).toBe('DE_KSS_APP_20210506_00002689.DAT');
  });

  it('writes a header, one line per record and a trailer with the count', () => {
    const line = recordLine({ _id: 'r1', deanery: 'KSS', placementId: 'P1', positionNumber: 'KSS/1', applicant: { forenames: 'Ada', surname: 'Lovelace' }, placementStartDate: '2021-08-04', status: 'TO_EXPORT' });
    expect(line).toBe('APP|r1|P1|KSS/1|Lovelace|Ada||20210804');
    expect(renderAppFile({ deanery: 'KSS', runDate: '2021-07-30', sequence: 3754, fileName: 'DE_KSS_APP_20210730_00003754.DAT' }, [line as string])).toBe(
      'HDR|APP|KSS|20210730|00003754|DE_KSS_APP_20210730_00003754.DAT\nAPP|r1|P1|KSS/1|Lovelace|Ada||20210804\nTRL|00000001\n',
    );
  });

  it('refuses to write a record whose field would break the format', () => {
    expect(recordLine({ _id: 'r2', deanery: 'KSS', placementId: 'P|2', positionNumber: 'X', applicant: { forenames: 'A', surname: 'B' }, placementStartDate: '2021-08-04', status: 'TO_EXPORT' })).toEqual({
      problem: 'a field holds a "|" or a line break: "P|2"',
    });
  });

  it('lists the days of a backfill inclusively, across a month end', () => {
    expect(daysBetween('2021-07-30', '2021-08-02')).toEqual(['2021-07-30', '2021-07-31', '2021-08-01', '2021-08-02']);
  });
});
