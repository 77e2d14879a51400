import Foundation
import Testing

/// Connection settings reach libmariadb the way the `mysql` client's do.
extension RealServer {
    @Suite("mysql-client options: option files, [myconn] group, MYSQL_PWD, -p forms")
    struct OptionFileTests {
        @Test("each way of giving credentials works, and a wrong value in it fails with status 3")
        func credentialSources() throws {
            let server = try TestServer()
            try server.sql("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'secret'")
            let dir = server.dir
            func write(_ name: String, _ text: String) throws -> String {
                let path = dir.appendingPathComponent(name).path
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                return path
            }
            let common = "host=127.0.0.1\nport=\(server.port)\nuser=app\n"
            let good = try write("good.cnf", "[client]\n\(common)password=secret\n")
            let bad = try write("bad.cnf", "[client]\n\(common)password=nope\n")
            let group = try write("group.cnf", "[client]\n\(common)password=nope\n[myconn]\npassword=secret\n")

            #expect(try myconn(["list", "--defaults-file", good]).status == 0)
            #expect(try myconn(["list", "--defaults-file", bad]).status == 3)
            #expect(try myconn(["list", "--defaults-file", group]).status == 0, "[myconn] is read after [client]")
            #expect(try myconn(["list", "--defaults-extra-file", good]).status == 0)
            #expect(try myconn(["list", "--defaults-file", bad, "--password=secret"]).status == 0, "the command line wins")
            #expect(try myconn(["list", "--defaults-file", bad, "-psecret"]).status == 0, "-pSECRET as in mysql")

            // ~/.my.cnf, found through HOME, with the [myconn] group.
            let home = dir.appendingPathComponent("home")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            _ = try write("home/.my.cnf", "[myconn]\n\(common)password=secret\n")
            var env = ProcessInfo.processInfo.environment
            env["HOME"] = home.path
            #expect(try myconn(["list"], environment: env).status == 0)
            #expect(try myconn(["list", "--no-defaults", "-h127.0.0.1", "-P\(server.port)", "-uapp"], environment: env).status == 3,
                    "--no-defaults reads no file")

            // MYSQL_PWD, read by libmariadb itself.
            env["HOME"] = dir.path
            env["MYSQL_PWD"] = "secret"
            #expect(try myconn(["list", "--no-defaults", "-h127.0.0.1", "-P\(server.port)", "-uapp"], environment: env).status == 0)
            env["MYSQL_PWD"] = "nope"
            #expect(try myconn(["list", "--no-defaults", "-h127.0.0.1", "-P\(server.port)", "-uapp"], environment: env).status == 3)

            let missing = try myconn(["list", "--defaults-extra-file", dir.appendingPathComponent("none.cnf").path])
            expectOneLineFailure(missing, status: 64, mentioning: ["cannot read --defaults-extra-file"])
        }
    }
}
